import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SessionTokens } from './session-tokens.ts';
import { CallerCache, MAX_UNCONFIRMED_MS, watchCredentials } from './caller-cache.ts';
import { createStore } from '../store/kysely-store.ts';
import { withCredentialWrites } from '../store/credential-writes.ts';
import { systemClock } from '../clock.ts';
import { isAirlockError } from '../errors.ts';
import type { Store, Token, User } from '../store/repositories.ts';

/** A store over one SQLite file, wrapped as openCore wraps it, and the token service over it. */
async function world(dir: string) {
  const cache = new CallerCache();
  const raw = await createStore({ dataDir: dir });
  // Count the token reads, to tell a cached answer from a database one.
  let reads = 0;
  const byHashWithUser = raw.tokens.byHashWithUser.bind(raw.tokens);
  const counted: Store = { ...raw, tokens: { ...raw.tokens, byHashWithUser: (h: string) => { reads++; return byHashWithUser(h); } }, close: () => raw.close() };
  const store = withCredentialWrites(counted, () => cache.invalidate());
  const stop = watchCredentials(cache, store.settings, { intervalMs: 50 });
  const tokens = new SessionTokens({ store, clock: systemClock, cache });
  // The watcher's first read confirms the cache; wait for it (bounded).
  for (let i = 0; i < 200 && cache.get('x') === undefined && !confirmed(cache); i++) await new Promise((r) => setTimeout(r, 10));
  return { cache, store, tokens, reads: () => reads, close: async () => { stop(); await store.close(); } };
}

/** Whether the cache currently answers (a probe entry set and read back). */
function confirmed(cache: CallerCache): boolean {
  const probe = { id: 'p', tokenHash: 'probe', userId: 'u', kind: 'session', scopes: [], createdAt: 0, expiresAt: 0, lastUsedAt: null } satisfies Token;
  cache.set('probe', probe, {} as User, cache.generation()); // a probe, never authenticated against
  const ok = cache.get('probe') !== undefined;
  cache.invalidate();
  return ok;
}

const refused = (p: Promise<unknown>) => assert.rejects(p, (e) => isAirlockError(e, 'unauthenticated'));

test('caller cache: lookups are cached, and a revocation or a disabled user on this process is refused by the next request', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-caller-cache-'));
  const w = await world(dir);
  try {
    const alice = await w.store.users.create({ name: 'alice', email: null, isAdmin: false, passwordHash: 'x', totpSecret: null }, Date.now());
    const one = await w.tokens.issue(alice, { kind: 'session', ttlMs: 3_600_000 });
    const two = await w.tokens.issue(alice, { kind: 'session', ttlMs: 3_600_000 });
    assert.equal((await w.tokens.authenticate(one.token)).user.name, 'alice');
    const before = w.reads();
    assert.equal((await w.tokens.authenticate(one.token)).token.id, one.record.id);
    assert.equal(w.reads(), before, 'the second lookup came from the cache');

    await w.tokens.revoke(one.record.id);
    await refused(w.tokens.authenticate(one.token));

    await w.tokens.authenticate(two.token);
    await w.store.users.setDisabled('alice', true);
    await refused(w.tokens.authenticate(two.token));
    await w.store.users.setDisabled('alice', false);
    await w.tokens.authenticate(two.token);
    await w.store.users.update(alice.id, { isAdmin: true });
    assert.equal((await w.tokens.authenticate(two.token)).user.isAdmin, true, 'a changed user is read again');
    await w.store.tokens.revokeAllOfUser(alice.id);
    await refused(w.tokens.authenticate(two.token));

    const three = await w.tokens.issue(alice, { kind: 'session', ttlMs: 3_600_000 });
    await w.tokens.authenticate(three.token);
    await assert.rejects(w.store.users.update('no-such-id', { isAdmin: false }), (e) => isAirlockError(e, 'not_found'), 'a failed write reports its own error');
    const before2 = w.reads();
    await w.tokens.authenticate(three.token);
    assert.equal(w.reads(), before2 + 1, 'a failed write empties the cache too (it may have happened)');
  } finally {
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('caller cache: a revocation by another process on the same database is refused within a second', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-caller-cache-'));
  const w = await world(dir);
  // Another process's store (the admin CLI, another replica): its writes bump the database's version only.
  const other = await createStore({ dataDir: dir });
  try {
    const bob = await w.store.users.create({ name: 'bob', email: null, isAdmin: false, passwordHash: 'x', totpSecret: null }, Date.now());
    const one = await w.tokens.issue(bob, { kind: 'session', ttlMs: 3_600_000 });
    const two = await w.tokens.issue(bob, { kind: 'session', ttlMs: 3_600_000 });
    for (const [name, t, write] of [
      ['revoked', one, () => other.tokens.revoke(one.record.id)],
      ['disabled', two, () => other.users.setDisabled('bob', true)],
    ] as const) {
      await w.tokens.authenticate(t.token);
      const before = w.reads();
      await w.tokens.authenticate(t.token);
      assert.equal(w.reads(), before, `${name}: cached before the write`);
      const start = performance.now();
      await write();
      let refusedAfter: number | undefined;
      for (let i = 0; i < 300 && refusedAfter === undefined; i++) {
        try {
          await w.tokens.authenticate(t.token);
          await new Promise((r) => setTimeout(r, 5));
        } catch (err) {
          assert.ok(isAirlockError(err, 'unauthenticated'));
          refusedAfter = performance.now() - start;
        }
      }
      assert.ok(refusedAfter !== undefined && refusedAfter < 1000, `${name}: refused after ${refusedAfter} ms`);
    }
  } finally {
    await other.close();
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('caller cache: answers nothing unless the version was confirmed recently, and drops lookups that raced a write', () => {
  let now = 1_000;
  const cache = new CallerCache({ now: () => now, maxEntries: 2 });
  const token = (id: string): Token => ({ id, tokenHash: id, userId: 'u', kind: 'session', scopes: [], createdAt: 0, expiresAt: 0, lastUsedAt: null });
  const user = { name: 'u' } as User; // only identity matters here
  cache.set('a', token('a'), user, cache.generation());
  assert.equal(cache.get('a'), undefined, 'never confirmed: no answers');
  cache.confirm(now);
  assert.equal(cache.get('a')?.token.id, 'a');
  now += MAX_UNCONFIRMED_MS;
  assert.equal(cache.get('a'), undefined, 'the watcher stalled: no answers');
  cache.confirm(now);

  const generation = cache.generation();
  cache.invalidate(); // a revocation while a lookup was under way
  cache.set('b', token('b'), user, generation);
  assert.equal(cache.get('b'), undefined, 'the racing lookup was not cached');

  for (const id of ['c', 'd', 'e']) cache.set(id, token(id), user, cache.generation());
  assert.equal(cache.size, 2, 'bounded');
  assert.equal(cache.get('c'), undefined, 'the oldest went first');
});
