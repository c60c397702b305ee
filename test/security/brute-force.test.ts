/**
 * Checklist item 3: repeated wrong passwords or codes lock the user and the client address with a
 * growing lockout; inside the lock even the right credentials are refused; every attempt is audited.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/clock.ts';
import { startTestServer, postJson, TEST_PASSWORD } from '../harness/in-process.ts';

test('five wrong passwords lock the account; the right ones are refused until the lock ends', async () => {
  const clock = new ManualClock(Date.parse('2026-11-24T10:00:00Z'));
  const t = await startTestServer({ clock });
  try {
    const { secret } = await t.addUser('alice');
    const login = (password: string, otp: string) => postJson(`${t.url}/api/v1/login`, { user: 'alice', password, otp });
    for (let i = 0; i < 5; i++) {
      const r = await login(`wrong password ${i}!`, t.totp(secret));
      assert.equal(r.status, 401, r.text);
    }
    const locked = await login(TEST_PASSWORD, t.totp(secret));
    assert.equal(locked.status, 429, 'the right credentials are refused inside the lock');
    assert.equal((locked.json.error as { code: string }).code, 'throttled');
    assert.match((locked.json.error as { message: string }).message, /Try again after/);

    clock.advance(61_000);
    clock.advance(30_000); // a fresh TOTP step, so the code is not a replay of the refused attempt's
    const ok = await login(TEST_PASSWORD, t.totp(secret));
    assert.equal(ok.status, 200, ok.text);

    const events = await t.server.core.store.audit.list({ actor: 'alice', type: 'auth.password_totp' });
    assert.equal(events.length, 7, 'every attempt is in the audit log');
    assert.deepEqual(events.map((e) => e.outcome), ['failure', 'failure', 'failure', 'failure', 'failure', 'denied', 'success']);
    assert.ok(events.every((e) => e.clientAddress === '127.0.0.1' || e.clientAddress === '::ffff:127.0.0.1'));
  } finally {
    await t.stop();
  }
});

test('wrong one-time codes count like wrong passwords, and the address is locked across user names', async () => {
  const clock = new ManualClock(Date.parse('2026-11-24T12:00:00Z'));
  const t = await startTestServer({ clock });
  try {
    await t.addUser('bob');
    const { secret } = await t.addUser('carol');
    for (let i = 0; i < 5; i++) {
      const r = await postJson(`${t.url}/api/v1/login`, { user: i % 2 ? 'bob' : `nobody${i}`, password: TEST_PASSWORD, otp: '000000' });
      assert.equal(r.status, 401);
    }
    // carol never failed, but this address did: refused.
    const r = await postJson(`${t.url}/api/v1/login`, { user: 'carol', password: TEST_PASSWORD, otp: t.totp(secret) });
    assert.equal(r.status, 429);
  } finally {
    await t.stop();
  }
});
