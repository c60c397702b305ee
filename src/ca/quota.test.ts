/**
 * The daily quota as CSCS defines it (issue 11 item 4): at most N certificates "until at least one of
 * these keys expires or keys are revoked" — a revoked certificate frees its slot, and the refusal says
 * when the next is possible and that revoking one frees a slot. On SQLite and PostgreSQL; on
 * PostgreSQL also exact across two replicas (two CAs, two connection pools, one database) issuing at
 * once (issue 14 item 2).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CertificateAuthority } from './authority.ts';
import { loadCaKeys, type CaKeys } from './ca-keys.ts';
import { DAY_MS } from './issuance-policy.ts';
import { createAuditor } from '../audit/auditor.ts';
import { ManualClock, type Clock } from '../clock.ts';
import { isAirlockError } from '../errors.ts';
import { publicKeyFromKeyObject } from '../ssh/keys.ts';
import { createStore } from '../store/kysely-store.ts';
import type { Store, User } from '../store/repositories.ts';
import { STORE_DIALECTS, type StoreFixture } from '../../test/harness/store-fixtures.ts';
import { POSTGRES_SKIP_REASON, withTestDatabase } from '../../test/harness/postgres.ts';

const newKey = () => publicKeyFromKeyObject(generateKeyPairSync('ed25519').publicKey);
const LIMIT = 3;

function caOn(store: Store, keys: CaKeys, clock: Clock, dailyLimit: number): CertificateAuthority {
  return new CertificateAuthority({
    keys, store, clock, audit: createAuditor({ repository: store.audit, clock, log: null }),
    policy: { ttlMs: DAY_MS, dailyLimit, allowAgentForwarding: false }, issuer: 'Test',
  });
}

for (const target of STORE_DIALECTS) {
  describe(`quota on ${target.dialect}`, { skip: target.skip }, () => {
    let fx: StoreFixture;
    let ca: CertificateAuthority;
    let dir: string;
    const clock = new ManualClock(Date.parse('2026-11-24T10:00:00Z'));

    before(async () => {
      fx = await target.open();
      dir = mkdtempSync(join(tmpdir(), 'airlock-quota-'));
      ca = caOn(fx.store, loadCaKeys(dir), clock, LIMIT);
    });

    after(async () => {
      await fx?.cleanup();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test('a revoked certificate frees its slot; the refusal says when, and that revoking frees one', async () => {
      const user = await fx.store.users.create({ name: 'carol', email: null, isAdmin: false, passwordHash: 'x', totpSecret: null }, clock.now());
      const issue = () => ca.issueUserCertificate({ user, publicKey: newKey(), method: 'test', clientAddress: null });
      const first = await issue();
      clock.advance(3_600_000);
      for (let i = 1; i < LIMIT; i++) await issue();
      await assert.rejects(issue(), (e) => {
        assert.ok(isAirlockError(e, 'quota_exceeded'));
        // The next slot opens 24 h after the oldest of the three.
        assert.match(e.message, new RegExp(`next one can be issued at ${new Date(first.record.issuedAt + DAY_MS).toISOString().replace(/\./g, '\\.')}`));
        assert.match(e.message, /revoke one you no longer use \(airlock certs list, then airlock certs revoke SERIAL\) to free its slot now/);
        return true;
      });
      await ca.revoke(first.serial, { actor: 'carol', owner: user });
      const again = await issue();
      assert.ok(again.serial > 0n, 'the revoked certificate\'s slot was free');
      await assert.rejects(issue(), (e) => isAirlockError(e, 'quota_exceeded'));
      const denied = (await fx.store.audit.list({ type: 'cert.issue', actor: 'carol' })).filter((e) => e.outcome === 'denied');
      assert.equal(denied.length, 2);
      assert.equal(denied[0]!.details.reason, 'quota_exceeded');
    });

    test('revoking all frees every slot', async () => {
      const user = await fx.store.users.create({ name: 'dan', email: null, isAdmin: false, passwordHash: 'x', totpSecret: null }, clock.now());
      const issue = () => ca.issueUserCertificate({ user, publicKey: newKey(), method: 'test', clientAddress: null });
      for (let i = 0; i < LIMIT; i++) await issue();
      await assert.rejects(issue(), (e) => isAirlockError(e, 'quota_exceeded'));
      await ca.revokeAllOfUser(user, { actor: 'dan' });
      for (let i = 0; i < LIMIT; i++) await issue();
      await assert.rejects(issue(), (e) => isAirlockError(e, 'quota_exceeded'));
    });
  });
}

describe('quota across two replicas on PostgreSQL', { skip: POSTGRES_SKIP_REASON }, () => {
  test('24 concurrent requests per user over two replicas issue exactly the quota (five users)', async () => {
    const testDb = (await withTestDatabase())!;
    const dir = mkdtempSync(join(tmpdir(), 'airlock-quota-pg-'));
    const stores: Store[] = [];
    try {
      // Two replicas: each its own pool and CA object, one database and one CA key pair.
      for (let i = 0; i < 2; i++) stores.push(await createStore({ url: testDb.url, dataDir: dir }));
      const keys = loadCaKeys(dir);
      const clock = new ManualClock(Date.parse('2026-11-24T10:00:00Z'));
      const replicas = stores.map((s) => caOn(s, keys, clock, 5));
      const users: User[] = [];
      for (const name of ['erin', 'finn', 'gwen', 'hugo', 'iris']) users.push(await stores[0]!.users.create({ name, email: null, isAdmin: false, passwordHash: 'x', totpSecret: null }, clock.now()));
      const results = await Promise.allSettled(users.flatMap((user) => Array.from({ length: 24 }, (_, i) =>
        replicas[i % 2]!.issueUserCertificate({ user, publicKey: newKey(), method: 'api', clientAddress: null }))));
      for (const r of results) if (r.status === 'rejected') assert.ok(isAirlockError(r.reason, 'quota_exceeded'), String(r.reason));
      for (const user of users) {
        assert.equal((await stores[1]!.certificates.listByUser(user.id)).length, 5, `${user.name}: exactly the quota in the ledger`);
      }
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 25);
    } finally {
      for (const s of stores) await s.close();
      await testDb.drop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
