/**
 * Checklist item 8: the answer to a sign-in for an unknown user is byte-identical to the answer for a
 * wrong password, a wrong code or a disabled account, and costs the same: the KDF runs for unknown
 * users too, so response time does not reveal which names exist.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/clock.ts';
import { startTestServer, postJson, TEST_PASSWORD } from '../harness/in-process.ts';

test('unknown user, wrong password, wrong code and disabled account get identical answers', async () => {
  const clock = new ManualClock(Date.parse('2026-11-24T10:00:00Z'));
  const t = await startTestServer({ clock });
  try {
    const { secret } = await t.addUser('alice');
    await t.addUser('dave');
    await t.server.core.store.users.setDisabled('dave', true);
    const attempts = [
      { user: 'mallory', password: TEST_PASSWORD, otp: t.totp(secret) },
      { user: 'alice', password: 'not the password at all', otp: t.totp(secret) },
      { user: 'alice', password: TEST_PASSWORD, otp: '123456' === t.totp(secret) ? '654321' : '123456' },
      { user: 'dave', password: TEST_PASSWORD, otp: t.totp(secret) },
    ];
    const answers = [];
    for (const a of attempts) {
      clock.advance(20 * 60_000); // outside the throttle window each time: only the answer is compared
      const r = await postJson(`${t.url}/api/v1/login`, a);
      answers.push({ status: r.status, body: r.text });
    }
    for (const a of answers.slice(1)) assert.deepEqual(a, answers[0]);
    assert.equal(answers[0]!.status, 401);
  } finally {
    await t.stop();
  }
});

test('the password KDF runs for unknown users (CPU cost within the same order as a wrong password)', async () => {
  const clock = new ManualClock(Date.parse('2026-11-24T10:00:00Z'));
  const t = await startTestServer({ clock });
  try {
    await t.addUser('alice');
    const time = async (user: string) => {
      clock.advance(20 * 60_000);
      // CPU time of this process (server and client are both in it; the KDF runs on libuv's pool,
      // which process.cpuUsage counts): unlike wall-clock time, load from other processes does not inflate it.
      const start = process.cpuUsage();
      const r = await postJson(`${t.url}/api/v1/login`, { user, password: 'not the password at all', otp: '000000' });
      assert.equal(r.status, 401);
      const d = process.cpuUsage(start);
      return (d.user + d.system) / 1000;
    };
    await time('alice'); // warm-up
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 3; i++) {
      known.push(await time('alice'));
      unknown.push(await time(`ghost${i}`));
    }
    const min = (xs: number[]) => Math.min(...xs);
    // Argon2id at the production cost takes tens of milliseconds of CPU; a path that skipped it, about one.
    assert.ok(min(unknown) > 0.5 * min(known), `unknown ${min(unknown).toFixed(1)} ms CPU vs known ${min(known).toFixed(1)} ms CPU`);
  } finally {
    await t.stop();
  }
});
