import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SessionTokens, hashToken } from './session-tokens.ts';
import { createStore } from '../store/kysely-store.ts';
import { ManualClock } from '../clock.ts';
import { isAirlockError } from '../errors.ts';

test('tokens: stored hashed, expire, end on sign-out and with the account', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-tokens-'));
  const store = await createStore({ url: 'sqlite::memory:', dataDir: dir });
  try {
    const clock = new ManualClock(Date.parse('2026-11-24T10:00:00Z'));
    const tokens = new SessionTokens({ store, clock });
    const user = await store.users.create({ name: 'alice', email: null, isAdmin: false, passwordHash: 'x', totpSecret: null }, clock.now());
    const { token, record } = await tokens.issue(user, { kind: 'session', ttlMs: 3_600_000 });
    assert.match(token, /^alk_[A-Za-z0-9_-]{43}$/);
    assert.equal(record.tokenHash, hashToken(token));
    assert.equal((await store.tokens.byHashWithUser(hashToken(token)))?.token.id, record.id);
    assert.equal((await tokens.authenticate(token)).user.name, 'alice');

    const refused = (t: string | undefined) => assert.rejects(tokens.authenticate(t), (e) => isAirlockError(e, 'unauthenticated'));
    await refused(undefined);
    await refused('');
    await refused(token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A'));
    await refused('Bearer ' + token);
    await refused('alk_' + 'x'.repeat(500));

    await store.users.setDisabled('alice', true);
    await refused(token);
    await store.users.setDisabled('alice', false);
    clock.advance(3_600_000);
    await refused(token);

    const second = await tokens.issue(user, { kind: 'session', ttlMs: 3_600_000 });
    await tokens.revoke(second.record.id);
    await refused(second.token);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
