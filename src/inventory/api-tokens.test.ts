/** Orchestrators' API tokens against the real store (in-memory SQLite), token service and sign-in. */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createAuditor } from '../audit/auditor.ts';
import { ManualClock } from '../clock.ts';
import { isAirlockError } from '../errors.ts';
import { LocalLogin } from '../identity/local-login.ts';
import { SessionTokens } from '../identity/session-tokens.ts';
import { createStore } from '../store/kysely-store.ts';
import type { Store, User } from '../store/repositories.ts';
import { authorizeScope, isServiceAccount, parseScopes, tokenProjectId, tokenScopes, DEFAULT_API_TOKEN_TTL_MS } from './api-scopes.ts';
import { ApiTokens } from './api-tokens.ts';
import { Inventory } from './inventory.ts';

const START = 1_750_000_000_000;
const DAY = 86_400_000;
const admin = { name: 'admin-cli', clientAddress: null };

test('parseScopes accepts repeated and comma-separated scopes, refuses unknown and empty ones', () => {
  assert.deepEqual(parseScopes(['targets:write,keys:read', 'targets:write']), ['targets:write', 'keys:read']);
  assert.throws(() => parseScopes([]), (err) => isAirlockError(err, 'bad_request'));
  assert.throws(() => parseScopes([' , ']), (err) => isAirlockError(err, 'bad_request'));
  assert.throws(() => parseScopes(['targets:admin']), (err) => isAirlockError(err, 'bad_request') && /targets:write, targets:read, keys:read/.test(err.message));
  assert.throws(() => parseScopes(['project:abc']), (err) => isAirlockError(err, 'bad_request'));
});

test('authorizeScope: API tokens need the scope (the refusal names it); sessions need an operator', () => {
  const person = { isAdmin: false } as User;
  const operator = { isAdmin: true } as User;
  const api = (scopes: string[]) => ({ id: 't', kind: 'api' as const, scopes });
  assert.deepEqual(authorizeScope({ user: person, token: api(['keys:read']) }, 'keys:read'), { projectId: null });
  assert.deepEqual(authorizeScope({ user: person, token: api(['targets:write', 'project:p1']) }, 'targets:write'), { projectId: 'p1' });
  assert.throws(() => authorizeScope({ user: person, token: api(['keys:read']) }, 'targets:write'),
    (err) => isAirlockError(err, 'forbidden') && err.message.includes('"targets:write"'));
  // A scope-like entry in a session token grants nothing.
  assert.throws(() => authorizeScope({ user: person, token: { id: 's', kind: 'session', scopes: ['keys:read'] } }, 'keys:read'),
    (err) => isAirlockError(err, 'forbidden') && err.message.includes('"keys:read"'));
  assert.deepEqual(authorizeScope({ user: operator, token: { id: 's', kind: 'session', scopes: [] } }, 'targets:write'), { projectId: null });
  assert.deepEqual(tokenScopes({ kind: 'session', scopes: ['keys:read'] }), []);
  assert.equal(tokenProjectId({ kind: 'session', scopes: ['project:p1'] }), null);
});

describe('ApiTokens', () => {
  let store: Store;
  let clock: ManualClock;
  let sessions: SessionTokens;
  let apiTokens: ApiTokens;

  before(async () => {
    store = await createStore({ url: 'sqlite::memory:', dataDir: '/nonexistent' });
    clock = new ManualClock(START);
    const audit = createAuditor({ repository: store.audit, clock, log: null });
    sessions = new SessionTokens({ store, clock });
    apiTokens = new ApiTokens({ store, tokens: sessions, audit, clock });
    await new Inventory({ store, clock, audit }).addProject('genomics', admin);
    await store.users.create({ name: 'alice', email: null, isAdmin: false, passwordHash: '$argon2id$v=19$m=1024,t=1,p=1$x$y', totpSecret: null }, START);
  });
  after(async () => {
    await store?.close();
  });

  test('create makes a service account on first use and a token that authenticates with its scopes and project', async () => {
    const created = await apiTokens.create({ account: 'openstack', scopes: ['targets:write', 'keys:read'], projectName: 'genomics', ttlMs: DEFAULT_API_TOKEN_TTL_MS }, admin);
    assert.equal(created.createdAccount, true);
    assert.ok(isServiceAccount(created.account));
    assert.match(created.token, /^alk_/);
    const { user, token } = await sessions.authenticate(created.token);
    assert.equal(user.name, 'openstack');
    assert.equal(token.kind, 'api');
    assert.deepEqual(tokenScopes(token), ['targets:write', 'keys:read']);
    assert.equal(tokenProjectId(token), created.project!.id);
    assert.equal(token.expiresAt, START + DEFAULT_API_TOKEN_TTL_MS);
    const again = await apiTokens.create({ account: 'openstack', scopes: ['targets:read'], projectName: null, ttlMs: DAY }, admin);
    assert.equal(again.createdAccount, false);
    assert.equal(again.account.id, created.account.id);
    assert.equal(tokenProjectId((await sessions.authenticate(again.token)).token), null);
    const events = await store.audit.list({ type: 'inventory.token_create' });
    assert.equal(events.length, 2);
    assert.doesNotMatch(JSON.stringify(events), new RegExp(created.token));
  });

  test('the service account can never sign in with a password', async () => {
    const login = new LocalLogin({ store, clock });
    for (const password of ['', '!airlock-service-account', 'anything at all']) {
      await assert.rejects(login.authenticate({ name: 'openstack', password, otp: '123456', clientAddress: null }), (err) => isAirlockError(err, 'unauthenticated'));
    }
  });

  test('refused: a person’s account, a disabled service account, an unknown project, bad lifetimes and names', async () => {
    await assert.rejects(apiTokens.create({ account: 'alice', scopes: ['keys:read'], projectName: null, ttlMs: DAY }, admin), (err) => isAirlockError(err, 'conflict'));
    await assert.rejects(apiTokens.create({ account: 'slurm', scopes: ['keys:read'], projectName: 'nope', ttlMs: DAY }, admin), (err) => isAirlockError(err, 'not_found'));
    assert.equal(await store.users.byName('slurm'), undefined, 'no account is created for a refused request');
    for (const ttlMs of [0, -1, 367 * DAY, 1.5]) {
      await assert.rejects(apiTokens.create({ account: 'slurm', scopes: ['keys:read'], projectName: null, ttlMs }, admin), (err) => isAirlockError(err, 'bad_request'), String(ttlMs));
    }
    await assert.rejects(apiTokens.create({ account: 'Bad Name', scopes: ['keys:read'], projectName: null, ttlMs: DAY }, admin), (err) => isAirlockError(err, 'bad_request'));
    await store.users.setDisabled('openstack', true);
    await assert.rejects(apiTokens.create({ account: 'openstack', scopes: ['keys:read'], projectName: null, ttlMs: DAY }, admin), (err) => isAirlockError(err, 'disabled'));
    await store.users.setDisabled('openstack', false);
  });

  test('revokeAll ends every token of the service account at once', async () => {
    const { token } = await apiTokens.create({ account: 'k8s', scopes: ['targets:read'], projectName: null, ttlMs: DAY }, admin);
    await sessions.authenticate(token);
    assert.equal(await apiTokens.revokeAll('k8s', admin), 1);
    await assert.rejects(sessions.authenticate(token), (err) => isAirlockError(err, 'unauthenticated'));
    await assert.rejects(apiTokens.revokeAll('alice', admin), (err) => isAirlockError(err, 'not_found'));
    assert.equal(await apiTokens.revokeAll('openstack', admin), 2);
  });

  test('tokens expire with their lifetime', async () => {
    const { token } = await apiTokens.create({ account: 'k8s', scopes: ['targets:read'], projectName: null, ttlMs: DAY }, admin);
    clock.advance(DAY);
    await assert.rejects(sessions.authenticate(token), (err) => isAirlockError(err, 'unauthenticated'));
  });
});
