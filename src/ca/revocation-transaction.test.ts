/**
 * Revocation and the KRL version change are one transaction (issue 10 item 4), on SQLite and
 * PostgreSQL: when raising the version fails (here: its table is made unavailable, a real database
 * error), the revocation is not visible either; when it succeeds, both are, and each revocation raises
 * the version exactly once.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { CertificateAuthority } from './authority.ts';
import { loadCaKeys } from './ca-keys.ts';
import { DAY_MS } from './issuance-policy.ts';
import { createAuditor } from '../audit/auditor.ts';
import { ManualClock } from '../clock.ts';
import { publicKeyFromKeyObject } from '../ssh/keys.ts';
import { parseKrl } from '../ssh/krl.ts';
import type { Store, User } from '../store/repositories.ts';
import type { Database } from '../store/schema.ts';
import { STORE_DIALECTS, type StoreFixture } from '../../test/harness/store-fixtures.ts';

const newKey = () => publicKeyFromKeyObject(generateKeyPairSync('ed25519').publicKey);

/** Runs `f` while the settings table (where the KRL version lives) is renamed away, then puts it back. */
async function withoutSettingsTable<T>(db: Kysely<Database>, f: () => Promise<T>): Promise<T> {
  await sql`alter table settings rename to settings_away`.execute(db);
  try {
    return await f();
  } finally {
    await sql`alter table settings_away rename to settings`.execute(db);
  }
}

for (const target of STORE_DIALECTS) {
  describe(`revocation and KRL version on ${target.dialect}`, { skip: target.skip }, () => {
    let fx: StoreFixture;
    let store: Store;
    let ca: CertificateAuthority;
    let alice: User;
    let dir: string;
    const clock = new ManualClock(Date.parse('2026-11-24T10:00:00Z'));

    before(async () => {
      fx = await target.open();
      store = fx.store;
      dir = mkdtempSync(join(tmpdir(), 'airlock-revtx-'));
      ca = new CertificateAuthority({
        keys: loadCaKeys(dir), store, clock, audit: createAuditor({ repository: store.audit, clock, log: null }),
        policy: { ttlMs: DAY_MS, dailyLimit: 100, allowAgentForwarding: false }, issuer: 'Test',
      });
      alice = await store.users.create({ name: 'alice', email: null, isAdmin: false, passwordHash: 'x', totpSecret: null }, clock.now());
    });

    after(async () => {
      await fx?.cleanup();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    const issue = () => ca.issueUserCertificate({ user: alice, publicKey: newKey(), method: 'test', clientAddress: null });

    test('one revocation raises the version once; revoking again changes nothing', async () => {
      const { serial } = await issue();
      const v0 = await ca.krlVersion();
      await ca.revoke(serial, { actor: 'admin' });
      assert.equal(await ca.krlVersion(), v0 + 1);
      assert.equal(parseKrl(await ca.krl()).version, BigInt(v0 + 1), 'the published KRL carries the new version');
      await ca.revoke(serial, { actor: 'admin' });
      assert.equal(await ca.krlVersion(), v0 + 1);
    });

    test('revoke: when the version cannot be raised, the certificate is not revoked either', async () => {
      const { serial } = await issue();
      const v0 = await ca.krlVersion();
      await withoutSettingsTable(fx.db, () => assert.rejects(ca.revoke(serial, { actor: 'admin' })));
      assert.equal((await store.certificates.bySerial(serial))?.revokedAt, null, 'the revocation was rolled back');
      assert.equal(await ca.krlVersion(), v0);
      assert.ok(!parseKrl(await ca.krl()).certificates.some((s) => s.serials.includes(serial)), 'not in the KRL');
      // And afterwards it works, once.
      await ca.revoke(serial, { actor: 'admin' });
      assert.notEqual((await store.certificates.bySerial(serial))?.revokedAt, null);
      assert.equal(await ca.krlVersion(), v0 + 1);
    });

    test('revoke all of a user: when the version cannot be raised, none is revoked', async () => {
      const a = await issue();
      const b = await issue();
      const v0 = await ca.krlVersion();
      await withoutSettingsTable(fx.db, () => assert.rejects(ca.revokeAllOfUser(alice, { actor: 'admin' })));
      for (const s of [a.serial, b.serial]) assert.equal((await store.certificates.bySerial(s))?.revokedAt, null);
      assert.equal(await ca.krlVersion(), v0);
      const revoked = await ca.revokeAllOfUser(alice, { actor: 'admin' });
      assert.ok(revoked.includes(a.serial) && revoked.includes(b.serial));
      assert.equal(await ca.krlVersion(), v0 + 1, 'one raise for the whole batch');
      assert.deepEqual(await ca.revokeAllOfUser(alice, { actor: 'admin' }), []);
      assert.equal(await ca.krlVersion(), v0 + 1, 'nothing revoked, nothing raised');
    });
  });
}
