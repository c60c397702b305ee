/**
 * Every repository behaviour, run against SQLite (a temporary file) and PostgreSQL (a fresh
 * database, when AIRLOCK_TEST_DATABASE_URL is set). The atomicity checks race real concurrent calls.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { isAirlockError } from '../errors.ts';
import { STORE_DIALECTS, type StoreFixture as Fixture } from '../../test/harness/store-fixtures.ts';
import type { CertificateRecord, NewUser, Store, User } from './repositories.ts';

const targets = STORE_DIALECTS;

const NOW = 1_750_000_000_000;
const HOUR = 3_600_000;

function newUser(name: string, extra: Partial<NewUser> = {}): NewUser {
  return { name, email: `${name}@example.org`, isAdmin: false, passwordHash: `$argon2id$v=19$${name}`, totpSecret: null, ...extra };
}

function cert(serial: bigint, user: User | null, extra: Partial<CertificateRecord> = {}): CertificateRecord {
  return {
    serial,
    userId: user?.id ?? '',
    userName: user?.name ?? '',
    keyId: `airlock:${user?.name ?? 'host'}:${serial}`,
    certType: user === null ? 'host' : 'user',
    principals: user === null ? ['host.example.org'] : [user.name],
    publicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl',
    fingerprint: 'SHA256:abc',
    validAfter: NOW - 60_000,
    validBefore: NOW + 24 * HOUR,
    method: 'password+totp',
    clientAddress: '127.0.0.1',
    issuedAt: NOW,
    revokedAt: null,
    revokeReason: null,
    ...extra,
  };
}

/** Counts how many of the settled promises fulfilled with `true`, failing on any rejection. */
function countTrue(results: PromiseSettledResult<boolean>[]): number {
  for (const r of results) if (r.status === 'rejected') throw r.reason;
  return results.filter((r) => r.status === 'fulfilled' && r.value).length;
}

for (const target of targets) {
  describe(`store on ${target.dialect}`, { skip: target.skip }, () => {
    let fx: Fixture;
    let store: Store;
    before(async () => {
      fx = await target.open();
      store = fx.store;
    });
    after(async () => {
      await fx?.cleanup();
    });

    test('reports its dialect', () => {
      assert.equal(store.dialect, target.dialect);
    });

    describe('users', () => {
      test('create returns the stored user and every lookup finds it', async () => {
        const created = await store.users.create(newUser('alice', { isAdmin: true, totpSecret: 'JBSWY3DPEHPK3PXP', sourceCidrs: ['10.0.0.0/8'], extraPrincipals: ['alice-admin'] }), NOW);
        assert.match(created.id, /^[0-9a-f-]{36}$/);
        assert.deepEqual(created, {
          id: created.id, name: 'alice', email: 'alice@example.org', isAdmin: true, disabled: false,
          passwordHash: '$argon2id$v=19$alice', totpSecret: 'JBSWY3DPEHPK3PXP', sourceCidrs: ['10.0.0.0/8'],
          extraPrincipals: ['alice-admin'], createdAt: NOW,
        });
        assert.deepEqual(await store.users.byName('alice'), created);
        assert.deepEqual(await store.users.byId(created.id), created);
        assert.equal(await store.users.byName('nobody'), undefined);
        assert.equal(await store.users.byId('00000000-0000-0000-0000-000000000000'), undefined);
      });

      test('defaults: no source restriction, no extra principals, not admin', async () => {
        const bob = await store.users.create(newUser('bob'), NOW);
        assert.deepEqual([bob.sourceCidrs, bob.extraPrincipals, bob.isAdmin, bob.disabled], [[], [], false, false]);
      });

      test('a taken name is a conflict, even when several creations race', async () => {
        await assert.rejects(store.users.create(newUser('alice'), NOW), (err) =>
          isAirlockError(err, 'conflict') && err.message === 'a user named alice already exists');
        const results = await Promise.allSettled(Array.from({ length: 5 }, () => store.users.create(newUser('carol'), NOW)));
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
        for (const r of results) if (r.status === 'rejected') assert.ok(isAirlockError(r.reason, 'conflict'));
      });

      test('names are case-sensitive on both dialects', async () => {
        await store.users.create(newUser('Dave'), NOW);
        await store.users.create(newUser('dave'), NOW);
        assert.equal((await store.users.byName('DAVE')), undefined);
      });

      test('list returns all users ordered by name', async () => {
        const names = (await store.users.list()).map((u) => u.name);
        assert.deepEqual(names, [...names].sort());
        for (const name of ['alice', 'bob', 'carol', 'Dave', 'dave']) assert.ok(names.includes(name));
      });

      test('setDisabled toggles the flag and says whether the user exists', async () => {
        assert.equal(await store.users.setDisabled('bob', true), true);
        assert.equal((await store.users.byName('bob'))?.disabled, true);
        assert.equal(await store.users.setDisabled('bob', false), true);
        assert.equal((await store.users.byName('bob'))?.disabled, false);
        assert.equal(await store.users.setDisabled('nobody', true), false);
      });

      test('update changes exactly the patched fields', async () => {
        const before = (await store.users.byName('bob'))!;
        await store.users.update(before.id, { email: null, isAdmin: true, totpSecret: 'SECRET', sourceCidrs: ['192.0.2.0/24'], extraPrincipals: ['b'] });
        const after = (await store.users.byName('bob'))!;
        assert.deepEqual(after, { ...before, email: null, isAdmin: true, totpSecret: 'SECRET', sourceCidrs: ['192.0.2.0/24'], extraPrincipals: ['b'] });
        await store.users.update(before.id, { passwordHash: 'new', totpSecret: null });
        assert.deepEqual(await store.users.byName('bob'), { ...after, passwordHash: 'new', totpSecret: null });
        await store.users.update(before.id, {});
        assert.deepEqual(await store.users.byName('bob'), { ...after, passwordHash: 'new', totpSecret: null });
      });

      test('update of an unknown user is not_found, not a silent no-op', async () => {
        await assert.rejects(store.users.update('00000000-0000-0000-0000-000000000000', { isAdmin: true }), (err) => isAirlockError(err, 'not_found'));
        await assert.rejects(store.users.update('00000000-0000-0000-0000-000000000000', {}), (err) => isAirlockError(err, 'not_found'));
      });

      test('a malformed flag in the database is an error, never read as admin', async () => {
        const eve = await store.users.create(newUser('eve'), NOW);
        await fx.db.updateTable('users').set({ is_admin: 2 }).where('id', '=', eve.id).execute();
        await assert.rejects(store.users.byName('eve'), (err) => isAirlockError(err, 'internal'));
        await fx.db.updateTable('users').set({ is_admin: 0, source_cidrs: '{"not":"an array"}' }).where('id', '=', eve.id).execute();
        await assert.rejects(store.users.byId(eve.id), (err) => isAirlockError(err, 'internal'));
        await fx.db.deleteFrom('users').where('id', '=', eve.id).execute();
      });
    });

    describe('recovery codes', () => {
      test('a code is consumed once, only by its owner', async () => {
        const alice = (await store.users.byName('alice'))!;
        const bob = (await store.users.byName('bob'))!;
        await store.recoveryCodes.replace(alice.id, ['h1', 'h2', 'h3']);
        assert.equal(await store.recoveryCodes.remaining(alice.id), 3);
        assert.equal(await store.recoveryCodes.consume(bob.id, 'h1', NOW), false);
        assert.equal(await store.recoveryCodes.consume(alice.id, 'unknown', NOW), false);
        assert.equal(await store.recoveryCodes.consume(alice.id, 'h1', NOW), true);
        assert.equal(await store.recoveryCodes.consume(alice.id, 'h1', NOW + 1), false);
        assert.equal(await store.recoveryCodes.remaining(alice.id), 2);
        assert.equal(await store.recoveryCodes.remaining(bob.id), 0);
      });

      test('replace discards the old codes, used or not', async () => {
        const alice = (await store.users.byName('alice'))!;
        await store.recoveryCodes.replace(alice.id, ['n1', 'n2']);
        assert.equal(await store.recoveryCodes.remaining(alice.id), 2);
        assert.equal(await store.recoveryCodes.consume(alice.id, 'h2', NOW), false);
        await store.recoveryCodes.replace(alice.id, []);
        assert.equal(await store.recoveryCodes.remaining(alice.id), 0);
      });

      test('of 10 concurrent uses of one code exactly one succeeds', async () => {
        const alice = (await store.users.byName('alice'))!;
        await store.recoveryCodes.replace(alice.id, ['race']);
        const results = await Promise.allSettled(Array.from({ length: 10 }, () => store.recoveryCodes.consume(alice.id, 'race', NOW)));
        assert.equal(countTrue(results), 1);
        assert.equal(await store.recoveryCodes.remaining(alice.id), 0);
      });
    });

    describe('TOTP replay', () => {
      test('a step is accepted once per user', async () => {
        const alice = (await store.users.byName('alice'))!;
        const bob = (await store.users.byName('bob'))!;
        assert.equal(await store.totpReplay.markUsed(alice.id, 58_333_333, NOW), true);
        assert.equal(await store.totpReplay.markUsed(alice.id, 58_333_333, NOW), false);
        assert.equal(await store.totpReplay.markUsed(alice.id, 58_333_334, NOW), true);
        assert.equal(await store.totpReplay.markUsed(bob.id, 58_333_333, NOW), true);
      });

      test('of 10 concurrent uses of one step exactly one succeeds', async () => {
        const alice = (await store.users.byName('alice'))!;
        const results = await Promise.allSettled(Array.from({ length: 10 }, () => store.totpReplay.markUsed(alice.id, 60_000_000, NOW)));
        assert.equal(countTrue(results), 1);
      });

      test('prune forgets only records older than the cutoff', async () => {
        const alice = (await store.users.byName('alice'))!;
        assert.equal(await store.totpReplay.markUsed(alice.id, 1, NOW - HOUR), true);
        assert.equal(await store.totpReplay.markUsed(alice.id, 2, NOW), true);
        await store.totpReplay.prune(NOW - 1);
        assert.equal(await store.totpReplay.markUsed(alice.id, 1, NOW), true);
        assert.equal(await store.totpReplay.markUsed(alice.id, 2, NOW), false);
      });

      test('an error other than a replay is raised, not reported as "already used"', async () => {
        // No such user: the foreign key fails, which must not read as a replay (nor as success).
        await assert.rejects(store.totpReplay.markUsed('no-such-user', 1, NOW), (err) => !isAirlockError(err));
      });
    });

    describe('throttle', () => {
      test('put, get, overwrite and clear', async () => {
        assert.equal(await store.throttle.get('user:alice'), undefined);
        const state = { key: 'user:alice', failures: 1, firstFailureAt: NOW, lockedUntil: 0 };
        await store.throttle.put(state);
        assert.deepEqual(await store.throttle.get('user:alice'), state);
        const locked = { ...state, failures: 5, lockedUntil: NOW + HOUR };
        await store.throttle.put(locked);
        assert.deepEqual(await store.throttle.get('user:alice'), locked);
        await store.throttle.put({ key: 'addr:127.0.0.1', failures: 2, firstFailureAt: NOW, lockedUntil: 0 });
        await store.throttle.clear('user:alice');
        assert.equal(await store.throttle.get('user:alice'), undefined);
        assert.equal((await store.throttle.get('addr:127.0.0.1'))?.failures, 2);
      });

      test('update is an atomic read-modify-write over several keys; null writes nothing, a null entry deletes', async () => {
        const bump = (states: ({ key: string; failures: number; firstFailureAt: number; lockedUntil: number } | undefined)[], keys: string[]) =>
          states.map((st, i) => ({ key: keys[i]!, failures: (st?.failures ?? 0) + 1, firstFailureAt: NOW, lockedUntil: 0 }));
        const keys = ['user:racer', 'addr:192.0.2.77'];
        await Promise.all(Array.from({ length: 25 }, (_, i) => store.throttle.update(i % 2 ? keys : [...keys].reverse(), (states) => bump(states, i % 2 ? keys : [...keys].reverse()))));
        assert.equal((await store.throttle.get('user:racer'))?.failures, 25);
        assert.equal((await store.throttle.get('addr:192.0.2.77'))?.failures, 25);
        const seen = await store.throttle.update(['user:racer', 'user:nobody'], () => null);
        assert.equal(seen[0]?.failures, 25);
        assert.equal(seen[1], undefined);
        assert.equal(await store.throttle.get('user:nobody'), undefined, 'a row locked only to read it is not left behind');
        await store.throttle.update(keys, () => [null, { key: keys[1]!, failures: 7, firstFailureAt: NOW, lockedUntil: NOW + HOUR }]);
        assert.equal(await store.throttle.get('user:racer'), undefined);
        assert.deepEqual(await store.throttle.get('addr:192.0.2.77'), { key: 'addr:192.0.2.77', failures: 7, firstFailureAt: NOW, lockedUntil: NOW + HOUR });
      });
    });

    describe('tokens', () => {
      /** The stored token with this hash (read with its user, as authentication reads it). */
      const tokenByHash = async (hash: string) => (await store.tokens.byHashWithUser(hash))?.token;
      test('create, find by hash, touch, revoke', async () => {
        const alice = (await store.users.byName('alice'))!;
        // Created a moment after alice: a token field read from the user's column of the same name would show.
        const token = { id: 'tok1', tokenHash: 'a'.repeat(64), userId: alice.id, kind: 'api' as const, scopes: ['certs:issue'], createdAt: NOW + 1, expiresAt: NOW + HOUR };
        await store.tokens.create(token);
        assert.deepEqual(await tokenByHash(token.tokenHash), { ...token, lastUsedAt: null });
        await store.tokens.touch('tok1', NOW + 5);
        assert.equal((await tokenByHash(token.tokenHash))?.lastUsedAt, NOW + 5);
        assert.equal(await tokenByHash('b'.repeat(64)), undefined);
        // Token and user in one read: the same records as the two lookups give (shared column names kept apart).
        assert.deepEqual(await store.tokens.byHashWithUser(token.tokenHash), { token: { ...token, lastUsedAt: NOW + 5 }, user: await store.users.byId(alice.id) });
        assert.equal(await store.tokens.byHashWithUser('b'.repeat(64)), undefined);
        await assert.rejects(store.tokens.create({ ...token, id: 'tok2' }), (err) => isAirlockError(err, 'conflict'));
        await store.tokens.revoke('tok1');
        assert.equal(await tokenByHash(token.tokenHash), undefined);
      });

      test('uses recorded at the same time (one transaction on SQLite, one statement on PostgreSQL) each keep their own token and time', async () => {
        const alice = (await store.users.byName('alice'))!;
        const ids = ['tt0', 'tt1', 'tt2'];
        for (const [i, id] of ids.entries()) await store.tokens.create({ id, tokenHash: `touch-${i}`, userId: alice.id, kind: 'session', scopes: [], createdAt: NOW, expiresAt: NOW + HOUR });
        await Promise.all([...ids.map((id, i) => store.tokens.touch(id, NOW + 10 + i)), store.tokens.touch('no-such-token', NOW)]);
        assert.deepEqual(await Promise.all(ids.map(async (_, i) => (await tokenByHash(`touch-${i}`))?.lastUsedAt)), [NOW + 10, NOW + 11, NOW + 12]);
        // One token used twice at once: either time is right, and the other tokens are untouched.
        await Promise.all([store.tokens.touch('tt1', NOW + 20), store.tokens.touch('tt1', NOW + 21)]);
        assert.ok([NOW + 20, NOW + 21].includes((await tokenByHash('touch-1'))!.lastUsedAt!));
        assert.deepEqual([(await tokenByHash('touch-0'))?.lastUsedAt, (await tokenByHash('touch-2'))?.lastUsedAt], [NOW + 10, NOW + 12]);
        for (const id of ids) await store.tokens.revoke(id);
      });

      test('revokeAllOfUser removes only that user’s tokens and counts them', async () => {
        const alice = (await store.users.byName('alice'))!;
        const bob = (await store.users.byName('bob'))!;
        for (const [i, user] of [alice, alice, bob].entries()) {
          await store.tokens.create({ id: `t${i}`, tokenHash: `hash-${i}`, userId: user.id, kind: 'session', scopes: [], createdAt: NOW, expiresAt: NOW + HOUR });
        }
        assert.equal(await store.tokens.revokeAllOfUser(alice.id), 2);
        assert.equal(await tokenByHash('hash-0'), undefined);
        assert.equal((await tokenByHash('hash-2'))?.userId, bob.id);
        assert.equal(await store.tokens.revokeAllOfUser(alice.id), 0);
      });

      test('pruneExpired removes tokens whose expiry has come', async () => {
        const bob = (await store.users.byName('bob'))!;
        await store.tokens.create({ id: 'old', tokenHash: 'hash-old', userId: bob.id, kind: 'session', scopes: [], createdAt: NOW - HOUR, expiresAt: NOW });
        await store.tokens.create({ id: 'new', tokenHash: 'hash-new', userId: bob.id, kind: 'session', scopes: [], createdAt: NOW, expiresAt: NOW + 1 });
        await store.tokens.pruneExpired(NOW);
        assert.equal(await tokenByHash('hash-old'), undefined);
        assert.equal((await tokenByHash('hash-new'))?.id, 'new');
      });
    });

    describe('certificates', () => {
      test('insert and bySerial round-trip every field, the whole uint64 range included', async () => {
        const alice = (await store.users.byName('alice'))!;
        const max = cert(2n ** 64n - 1n, alice);
        await store.certificates.insert(max);
        assert.deepEqual(await store.certificates.bySerial(max.serial), max);
        const host = cert(7n, null, { revokedAt: NOW + 1, revokeReason: 'decommissioned', clientAddress: null });
        await store.certificates.insert(host);
        assert.deepEqual(await store.certificates.bySerial(7n), host);
        assert.equal(await store.certificates.bySerial(8n), undefined);
      });

      test('a duplicate serial is a conflict; an out-of-range serial is refused', async () => {
        const alice = (await store.users.byName('alice'))!;
        await assert.rejects(store.certificates.insert(cert(7n, alice)), (err) => isAirlockError(err, 'conflict'));
        await assert.rejects(store.certificates.insert(cert(2n ** 64n, alice)), (err) => isAirlockError(err, 'internal'));
        await assert.rejects(store.certificates.insert(cert(-1n, alice)), (err) => isAirlockError(err, 'internal'));
      });

      test('listByUser and listAll are newest first; validAt drops expired ones', async () => {
        const bob = (await store.users.byName('bob'))!;
        await store.certificates.insert(cert(100n, bob, { issuedAt: NOW - 2 * HOUR, validBefore: NOW - HOUR }));
        await store.certificates.insert(cert(101n, bob, { issuedAt: NOW - HOUR, validBefore: NOW }));
        await store.certificates.insert(cert(102n, bob, { issuedAt: NOW + HOUR, validBefore: NOW + 2 * HOUR }));
        assert.deepEqual((await store.certificates.listByUser(bob.id)).map((c) => c.serial), [102n, 101n, 100n]);
        const all = await store.certificates.listAll();
        assert.deepEqual(all.map((c) => c.issuedAt), all.map((c) => c.issuedAt).sort((a, b) => b - a));
        assert.ok(all.some((c) => c.serial === 100n));
        // valid_before is exclusive (OpenSSH): a certificate is expired at exactly valid_before.
        const unexpired = (await store.certificates.listAll({ validAt: NOW })).map((c) => c.serial);
        assert.ok(unexpired.includes(102n));
        assert.ok(!unexpired.includes(101n) && !unexpired.includes(100n));
      });

      test('issuedSince lists the user’s user-certificates since the cutoff, oldest first', async () => {
        const carol = (await store.users.byName('carol'))!;
        await store.certificates.insert(cert(200n, carol, { issuedAt: NOW - 25 * HOUR }));
        await store.certificates.insert(cert(201n, carol, { issuedAt: NOW - 2 * HOUR }));
        await store.certificates.insert(cert(202n, carol, { issuedAt: NOW - 3 * HOUR }));
        await store.certificates.insert(cert(203n, carol, { issuedAt: NOW - HOUR, certType: 'host' }));
        assert.deepEqual(await store.certificates.issuedSince(carol.id, NOW - 24 * HOUR), [NOW - 3 * HOUR, NOW - 2 * HOUR]);
        assert.deepEqual(await store.certificates.issuedSince(carol.id, NOW - 2 * HOUR), [NOW - 2 * HOUR]);
        assert.deepEqual(await store.certificates.issuedSince(carol.id, NOW - 24 * HOUR, 1), [NOW - 2 * HOUR], 'with a limit, the newest');
      });

      test('revoke marks a certificate once', async () => {
        assert.equal(await store.certificates.revoke(102n, NOW, 'key compromised'), true);
        assert.equal(await store.certificates.revoke(102n, NOW + 1, 'again'), false);
        assert.equal(await store.certificates.revoke(999n, NOW, 'unknown'), false);
        const rec = await store.certificates.bySerial(102n);
        assert.deepEqual([rec?.revokedAt, rec?.revokeReason], [NOW, 'key compromised']);
      });

      test('revokeAllOfUser revokes and returns only what it changed; concurrent calls split the work', async () => {
        const dave = (await store.users.byName('dave'))!;
        for (const serial of [300n, 301n, 302n]) await store.certificates.insert(cert(serial, dave));
        await store.certificates.revoke(301n, NOW, 'earlier');
        const [a, b] = await Promise.all([
          store.certificates.revokeAllOfUser(dave.id, NOW + 1, 'user disabled'),
          store.certificates.revokeAllOfUser(dave.id, NOW + 1, 'user disabled'),
        ]);
        assert.deepEqual([...a, ...b].sort((x, y) => Number(x - y)), [300n, 302n]);
        assert.equal((await store.certificates.bySerial(301n))?.revokeReason, 'earlier');
        assert.deepEqual(await store.certificates.revokeAllOfUser(dave.id, NOW + 2, 'again'), []);
      });

      test('revokedSerials lists revoked certificates that have not expired, ascending', async () => {
        const serials = await store.certificates.revokedSerials(NOW);
        // 7 (host, revoked), 102, 300, 301, 302; not 101/100 (never revoked) and not expired ones.
        assert.deepEqual(serials, [7n, 102n, 300n, 301n, 302n]);
        await store.certificates.revoke(101n, NOW, 'late');
        assert.ok(!(await store.certificates.revokedSerials(NOW)).includes(101n), 'expired at exactly valid_before');
        assert.ok((await store.certificates.revokedSerials(NOW - 1)).includes(101n));
      });
    });

    describe('settings', () => {
      test('get, set, overwrite', async () => {
        assert.equal(await store.settings.get('missing'), undefined);
        await store.settings.set('ca.issuer', 'airlock');
        assert.equal(await store.settings.get('ca.issuer'), 'airlock');
        await store.settings.set('ca.issuer', 'other');
        assert.equal(await store.settings.get('ca.issuer'), 'other');
      });

      test('increment starts at 1, continues from a set value, and never loses a concurrent update', async () => {
        assert.equal(await store.settings.increment('krl.version'), 1);
        assert.equal(await store.settings.increment('krl.version'), 2);
        await store.settings.set('counter', '41');
        assert.equal(await store.settings.increment('counter'), 42);
        const values = await Promise.all(Array.from({ length: 20 }, () => store.settings.increment('race')));
        assert.deepEqual([...values].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1));
        assert.equal(await store.settings.get('race'), '20');
      });
    });

    describe('audit', () => {
      test('append and list with filters, oldest first', async () => {
        await store.audit.append({ at: NOW + 2, type: 'cert.issue', outcome: 'success', actor: 'alice', clientAddress: '127.0.0.1', details: { serial: '7', nested: { ok: true } } });
        await store.audit.append({ at: NOW, type: 'auth.login', outcome: 'failure', actor: null, clientAddress: null, details: {} });
        await store.audit.append({ at: NOW + 1, type: 'auth.login', outcome: 'success', actor: 'alice', clientAddress: '::1', details: { method: 'password+totp' } });
        await store.audit.append({ at: NOW + 1, type: 'auth.login', outcome: 'denied', actor: 'bob', clientAddress: '::1', details: {} });

        const all = await store.audit.list({});
        assert.deepEqual(all.map((e) => [e.at, e.outcome]), [[NOW, 'failure'], [NOW + 1, 'success'], [NOW + 1, 'denied'], [NOW + 2, 'success']]);
        for (const e of all) assert.equal(typeof e.id, 'number');
        assert.deepEqual(all[3], { id: all[3]!.id, at: NOW + 2, type: 'cert.issue', outcome: 'success', actor: 'alice', clientAddress: '127.0.0.1', details: { serial: '7', nested: { ok: true } } });
        assert.deepEqual((await store.audit.list({ since: NOW + 1 })).map((e) => e.at), [NOW + 1, NOW + 1, NOW + 2]);
        assert.deepEqual((await store.audit.list({ limit: 2 })).map((e) => e.at), [NOW, NOW + 1]);
        assert.deepEqual((await store.audit.list({ actor: 'alice' })).map((e) => e.type), ['auth.login', 'cert.issue']);
        assert.deepEqual((await store.audit.list({ type: 'auth.login', actor: 'bob' })).map((e) => e.outcome), ['denied']);
        assert.deepEqual(await store.audit.list({ limit: 0 }), []);
        await assert.rejects(store.audit.list({ limit: -1 }), (err) => isAirlockError(err, 'bad_request'));
      });
    });

    describe('lifecycle', () => {
      test('deleting a user removes their codes, TOTP steps and tokens, but keeps their certificates', async () => {
        const carol = (await store.users.byName('carol'))!;
        await store.recoveryCodes.replace(carol.id, ['c1']);
        await store.totpReplay.markUsed(carol.id, 9, NOW);
        await store.tokens.create({ id: 'carol-tok', tokenHash: 'hash-carol', userId: carol.id, kind: 'session', scopes: [], createdAt: NOW, expiresAt: NOW + HOUR });
        await fx.db.deleteFrom('users').where('id', '=', carol.id).execute();
        const count = async (table: 'recovery_codes' | 'totp_used' | 'tokens'): Promise<number> =>
          Number((await sql<{ n: number }>`select count(*) as n from ${sql.table(table)} where user_id = ${carol.id}`.execute(fx.db)).rows[0]!.n);
        assert.deepEqual([await count('recovery_codes'), await count('totp_used'), await count('tokens')], [0, 0, 0]);
        assert.equal((await store.certificates.listByUser(carol.id)).length, 4);
      });

      test('after close every operation rejects (fail closed) and close is idempotent', async () => {
        await store.close();
        await store.close();
        await assert.rejects(store.users.byName('alice'));
        await assert.rejects(store.totpReplay.markUsed('x', 1, NOW));
        await assert.rejects(store.recoveryCodes.consume('x', 'y', NOW));
        await assert.rejects(store.certificates.revokedSerials(NOW));
      });
    });
  });
}
