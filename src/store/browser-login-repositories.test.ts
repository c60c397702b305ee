/**
 * Browser-login repositories on SQLite and PostgreSQL: the single-use transitions race real concurrent
 * calls, and a second store on the same database (another replica) sees every decision at once.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { isAirlockError } from '../errors.ts';
import { POSTGRES_SKIP_REASON, withTestDatabase } from '../../test/harness/postgres.ts';
import { openDatabase, type SqlDialect } from './database.ts';
import { storeOn } from './kysely-store.ts';
import { migrateToLatest } from './migrate.ts';
import type { NewBrowserLogin, Store, User } from './repositories.ts';

interface Fixture {
  store: Store;
  /** A second Store on the same database: what another replica sees. */
  other: Store;
  cleanup(): Promise<void>;
}

async function sqliteFixture(): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'airlock-bl-store-'));
  const a = await openDatabase({ dataDir: join(dir, 'data') });
  await migrateToLatest(a.db, a.dialect);
  const b = await openDatabase({ dataDir: join(dir, 'data') });
  const store = storeOn(a);
  const other = storeOn(b);
  return { store, other, cleanup: async () => { await store.close(); await other.close(); await rm(dir, { recursive: true, force: true }); } };
}

async function postgresFixture(): Promise<Fixture> {
  const testDb = await withTestDatabase();
  assert.ok(testDb, 'AIRLOCK_TEST_DATABASE_URL is set');
  const a = await openDatabase({ url: testDb.url, dataDir: '/nonexistent' });
  await migrateToLatest(a.db, a.dialect);
  const b = await openDatabase({ url: testDb.url, dataDir: '/nonexistent' });
  const store = storeOn(a);
  const other = storeOn(b);
  return { store, other, cleanup: async () => { await store.close(); await other.close(); await testDb.drop(); } };
}

const targets: { dialect: SqlDialect; skip: string | undefined; open: () => Promise<Fixture> }[] = [
  { dialect: 'sqlite', skip: undefined, open: sqliteFixture },
  { dialect: 'postgres', skip: POSTGRES_SKIP_REASON, open: postgresFixture },
];

const NOW = 1_750_000_000_000;
const MINUTE = 60_000;

function request(extra: Partial<NewBrowserLogin> = {}): NewBrowserLogin {
  return {
    id: randomUUID(), kind: 'ssh', secretHash: randomUUID(), pollHash: null, userCode: 'ABCD-EFGH', userName: 'alice',
    clientAddress: '127.0.0.1', connectionRef: 'conn-1', createdAt: NOW, expiresAt: NOW + 5 * MINUTE, ...extra,
  };
}

function countTrue(results: PromiseSettledResult<boolean>[]): number {
  for (const r of results) if (r.status === 'rejected') throw r.reason;
  return results.filter((r) => r.status === 'fulfilled' && r.value).length;
}

for (const target of targets) {
  describe(`browser-login repositories on ${target.dialect}`, { skip: target.skip }, () => {
    let fx: Fixture;
    let alice: User;
    let bob: User;
    before(async () => {
      fx = await target.open();
      alice = await fx.store.users.create({ name: 'alice', email: null, isAdmin: false, passwordHash: 'x', totpSecret: null }, NOW);
      bob = await fx.store.users.create({ name: 'bob', email: null, isAdmin: false, passwordHash: 'x', totpSecret: null }, NOW);
    });
    after(async () => fx?.cleanup());

    test('a request is found by secret hash and poll hash, and starts pending', async () => {
      const r = request({ kind: 'device', pollHash: randomUUID() });
      await fx.store.browserLogins.create(r);
      const bySecret = await fx.store.browserLogins.bySecretHash(r.secretHash);
      assert.equal(bySecret?.id, r.id);
      assert.equal(bySecret?.state, 'pending');
      assert.equal(bySecret?.kind, 'device');
      assert.equal(bySecret?.expiresAt, r.expiresAt);
      assert.equal((await fx.store.browserLogins.byPollHash(r.pollHash!))?.id, r.id);
      assert.equal(await fx.store.browserLogins.bySecretHash('nope'), undefined);
    });

    test('a duplicate secret hash is a conflict', async () => {
      const r = request();
      await fx.store.browserLogins.create(r);
      await assert.rejects(fx.store.browserLogins.create(request({ secretHash: r.secretHash })), (e) => isAirlockError(e, 'conflict'));
    });

    test('of concurrent approvals exactly one wins, and another replica sees it at once', async () => {
      const r = request();
      await fx.store.browserLogins.create(r);
      const results = await Promise.allSettled([
        ...Array.from({ length: 5 }, () => fx.store.browserLogins.decide(r.id, { state: 'approved', userId: alice.id, userName: 'alice', method: 'oidc' }, NOW + 1000)),
        ...Array.from({ length: 5 }, () => fx.other.browserLogins.decide(r.id, { state: 'denied', userId: bob.id, userName: 'bob', method: 'oidc' }, NOW + 1000)),
      ]);
      assert.equal(countTrue(results), 1);
      const seen = await fx.other.browserLogins.byId(r.id);
      assert.ok(seen?.state === 'approved' || seen?.state === 'denied');
      assert.equal(seen.decidedAt, NOW + 1000);
    });

    test('an expired request cannot be decided', async () => {
      const r = request();
      await fx.store.browserLogins.create(r);
      assert.equal(await fx.store.browserLogins.decide(r.id, { state: 'approved', userId: alice.id, userName: 'alice', method: 'oidc' }, r.expiresAt), false);
      assert.equal((await fx.store.browserLogins.byId(r.id))?.state, 'pending');
    });

    test('an approved request is consumed once, across replicas', async () => {
      const r = request();
      await fx.store.browserLogins.create(r);
      assert.equal(await fx.store.browserLogins.consume(r.id, NOW), false, 'a pending request cannot be consumed');
      assert.ok(await fx.store.browserLogins.decide(r.id, { state: 'approved', userId: alice.id, userName: 'alice', method: 'password+totp' }, NOW));
      const results = await Promise.allSettled([fx.store.browserLogins.consume(r.id, NOW), fx.other.browserLogins.consume(r.id, NOW), fx.store.browserLogins.consume(r.id, NOW)]);
      assert.equal(countTrue(results), 1);
      const rec = await fx.store.browserLogins.byId(r.id);
      assert.equal(rec?.state, 'consumed');
      assert.equal(rec.approvedUserId, alice.id);
      assert.equal(rec.approvedBy, 'alice');
      assert.equal(rec.approvalMethod, 'password+totp');
      assert.equal(await fx.store.browserLogins.decide(r.id, { state: 'approved', userId: alice.id, userName: 'alice', method: 'oidc' }, NOW), false, 'no second decision');
    });

    test('a denied request cannot be consumed', async () => {
      const r = request();
      await fx.store.browserLogins.create(r);
      assert.ok(await fx.store.browserLogins.decide(r.id, { state: 'denied', userId: alice.id, userName: 'alice', method: 'oidc' }, NOW));
      assert.equal(await fx.store.browserLogins.consume(r.id, NOW), false);
    });

    test('pruning removes only requests expired before the cut-off', async () => {
      const old = request({ expiresAt: NOW - 10 * MINUTE });
      const live = request();
      await fx.store.browserLogins.create(old);
      await fx.store.browserLogins.create(live);
      assert.ok((await fx.store.browserLogins.pruneExpired(NOW - MINUTE)) >= 1);
      assert.equal(await fx.store.browserLogins.byId(old.id), undefined);
      assert.ok(await fx.store.browserLogins.byId(live.id));
    });

    test('web sessions: create, find by hash, remove, prune, cascade with the user', async () => {
      const carol = await fx.store.users.create({ name: 'carol', email: null, isAdmin: false, passwordHash: 'x', totpSecret: null }, NOW);
      const s = { id: randomUUID(), secretHash: randomUUID(), userId: alice.id, method: 'oidc', createdAt: NOW, expiresAt: NOW + MINUTE };
      await fx.store.webSessions.create(s);
      assert.deepEqual(await fx.other.webSessions.byHash(s.secretHash), s);
      await assert.rejects(fx.store.webSessions.create({ ...s, id: randomUUID() }), (e) => isAirlockError(e, 'conflict'));
      await fx.store.webSessions.remove(s.id);
      assert.equal(await fx.store.webSessions.byHash(s.secretHash), undefined);
      const expired = { ...s, id: randomUUID(), secretHash: randomUUID(), expiresAt: NOW };
      await fx.store.webSessions.create(expired);
      await fx.store.webSessions.pruneExpired(NOW);
      assert.equal(await fx.store.webSessions.byHash(expired.secretHash), undefined);
      const carols = { ...s, id: randomUUID(), secretHash: randomUUID(), userId: carol.id };
      await fx.store.webSessions.create(carols);
      assert.equal(await fx.store.webSessions.byHash(carols.secretHash).then((r) => r?.userId), carol.id);
    });

    test('web sessions and tokens of one user: listed newest first without expired ones, and all ended at once', async () => {
      const dan = await fx.store.users.create({ name: 'dan', email: null, isAdmin: false, passwordHash: 'x', totpSecret: null }, NOW);
      const erin = await fx.store.users.create({ name: 'erin', email: null, isAdmin: false, passwordHash: 'x', totpSecret: null }, NOW);
      const ws = (userId: string, createdAt: number, expiresAt: number) => ({ id: randomUUID(), secretHash: randomUUID(), userId, method: 'password+totp', createdAt, expiresAt });
      const older = ws(dan.id, NOW - 2000, NOW + MINUTE);
      const newer = ws(dan.id, NOW - 1000, NOW + MINUTE);
      const gone = ws(dan.id, NOW - 3000, NOW);
      const erins = ws(erin.id, NOW, NOW + MINUTE);
      for (const s of [older, newer, gone, erins]) await fx.store.webSessions.create(s);
      assert.deepEqual((await fx.other.webSessions.listByUser(dan.id, NOW)).map((s) => s.id), [newer.id, older.id]);
      const tok = (userId: string, createdAt: number) => ({ id: randomUUID(), tokenHash: randomUUID(), userId, kind: 'session' as const, scopes: [], createdAt, expiresAt: NOW + MINUTE });
      const t1 = tok(dan.id, NOW - 5);
      const t2 = tok(dan.id, NOW - 1);
      for (const t of [t1, t2, tok(erin.id, NOW)]) await fx.store.tokens.create(t);
      assert.deepEqual((await fx.store.tokens.listByUser(dan.id, NOW)).map((t) => t.id), [t2.id, t1.id]);
      assert.equal(await fx.store.webSessions.removeAllOfUser(dan.id), 3);
      assert.deepEqual(await fx.store.webSessions.listByUser(dan.id, NOW), []);
      assert.equal((await fx.store.webSessions.listByUser(erin.id, NOW)).length, 1, 'another user keeps theirs');
    });

    test('an OIDC state is taken once, across replicas, and never when expired', async () => {
      const st = { stateHash: randomUUID(), nonce: 'n', codeVerifier: 'v', returnTo: '/', createdAt: NOW, expiresAt: NOW + MINUTE };
      await fx.store.oidcStates.create(st);
      const got = await Promise.all([fx.store.oidcStates.take(st.stateHash, NOW), fx.other.oidcStates.take(st.stateHash, NOW)]);
      assert.equal(got.filter((g) => g !== undefined).length, 1);
      assert.deepEqual(got.find((g) => g !== undefined), st);
      const old = { ...st, stateHash: randomUUID(), expiresAt: NOW };
      await fx.store.oidcStates.create(old);
      assert.equal(await fx.store.oidcStates.take(old.stateHash, NOW), undefined);
      assert.equal(await fx.store.oidcStates.take(old.stateHash, NOW - 1), undefined, 'gone even though refused');
    });

    test('an external identity links one subject to one user per issuer', async () => {
      await fx.store.externalIdentities.link({ issuer: 'https://idp', subject: 's-alice', userId: alice.id, createdAt: NOW });
      assert.equal((await fx.other.externalIdentities.find('https://idp', 's-alice'))?.userId, alice.id);
      assert.equal((await fx.store.externalIdentities.byUser('https://idp', alice.id))?.subject, 's-alice');
      await assert.rejects(fx.store.externalIdentities.link({ issuer: 'https://idp', subject: 's-other', userId: alice.id, createdAt: NOW }), (e) => isAirlockError(e, 'conflict'));
      await assert.rejects(fx.store.externalIdentities.link({ issuer: 'https://idp', subject: 's-alice', userId: bob.id, createdAt: NOW }), (e) => isAirlockError(e, 'conflict'));
      await fx.store.externalIdentities.link({ issuer: 'https://other-idp', subject: 's-alice', userId: bob.id, createdAt: NOW });
      assert.equal(await fx.store.externalIdentities.find('https://idp', 'unknown'), undefined);
    });
  });
}
