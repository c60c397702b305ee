import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import fc from 'fast-check';
import { isAirlockError } from '../errors.ts';
import { createStore } from '../store/kysely-store.ts';
import type { ThrottleState } from '../store/repositories.ts';
import {
  DEFAULT_THROTTLE_POLICY as P,
  Throttle,
  addressThrottleKey,
  freshThrottleState,
  isThrottled,
  nextThrottleState,
  refundThrottleState,
  userThrottleKey,
} from './throttle.ts';

const MIN = 60_000;
const T0 = 1_700_000_000_000;

function failAt(state: ThrottleState, ...times: number[]): ThrottleState {
  for (const t of times) state = nextThrottleState(state, t, P);
  return state;
}

test('four failures do not lock; the fifth within the window locks for one minute', () => {
  let s = failAt(freshThrottleState('user:alice'), T0, T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN);
  assert.equal(s.failures, 4);
  assert.equal(isThrottled(s, T0 + 3 * MIN), false);
  s = nextThrottleState(s, T0 + 14 * MIN, P);
  assert.equal(s.failures, 5);
  assert.equal(s.lockedUntil, T0 + 15 * MIN);
  assert.equal(isThrottled(s, T0 + 15 * MIN - 1), true);
  assert.equal(isThrottled(s, T0 + 15 * MIN), false);
  assert.equal(s.key, 'user:alice');
});

test('failures spread beyond the window never lock', () => {
  let s = freshThrottleState('addr:192.0.2.1');
  for (let i = 0; i < 50; i++) {
    s = nextThrottleState(s, T0 + i * 4 * MIN, P); // one every 4 minutes: at most 4 per window
    assert.equal(isThrottled(s, T0 + i * 4 * MIN), false, `failure ${i}`);
  }
});

test('each failure after a lock doubles it, up to one hour; a quiet window forgets', () => {
  let s = failAt(freshThrottleState('k'), T0, T0, T0, T0, T0);
  const durations: number[] = [];
  let t = T0;
  durations.push(s.lockedUntil - t);
  for (let i = 0; i < 8; i++) {
    t = s.lockedUntil + 1000; // retry just after the lock ends
    s = nextThrottleState(s, t, P);
    durations.push(s.lockedUntil - t);
  }
  assert.deepEqual(durations.map((d) => d / MIN), [1, 2, 4, 8, 16, 32, 60, 60, 60]);
  // A full quiet window after the last lock ends: the next failure starts a new count.
  s = nextThrottleState(s, s.lockedUntil + P.windowMs, P);
  assert.equal(s.failures, 1);
  assert.equal(s.lockedUntil, 0);
});

test('property: locks start only after maxFailures, never exceed the maximum, and bound guesses per window', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 30 * MIN }), { minLength: 1, maxLength: 40 }), (gaps) => {
      let s = freshThrottleState('k');
      let t = T0;
      let inWindow: number[] = [];
      for (const gap of gaps) {
        t += gap;
        const before = s;
        s = nextThrottleState(s, t, P);
        assert.ok(s.lockedUntil <= t + P.maxLockMs);
        assert.ok(s.failures >= 1);
        inWindow = inWindow.filter((x) => x > t - P.windowMs);
        inWindow.push(t);
        if (s.lockedUntil > before.lockedUntil) assert.ok(s.failures >= P.maxFailures);
        // The window is fixed (it starts at a streak's first failure), so one sliding window can
        // straddle two streaks; but 2·maxFailures−1 failures inside any window always mean a lock.
        if (inWindow.length >= 2 * P.maxFailures - 1) assert.ok(isThrottled(s, t), `unlocked after ${inWindow.length} failures in a window`);
      }
    }),
    { numRuns: 300 },
  );
});

test('keys: user names fold case; addresses canonicalise mapped IPv4 and group IPv6 by /64', () => {
  assert.equal(userThrottleKey('Alice'), 'user:alice');
  assert.match(userThrottleKey('A'.repeat(10_000)), /^user:sha256:[0-9a-f]{64}$/);
  assert.equal(userThrottleKey('A'.repeat(10_000)), userThrottleKey('a'.repeat(10_000)));
  assert.equal(addressThrottleKey('192.0.2.7'), 'addr:192.0.2.7');
  assert.equal(addressThrottleKey('::ffff:192.0.2.7'), 'addr:192.0.2.7');
  assert.equal(addressThrottleKey('::FFFF:192.0.2.7'), 'addr:192.0.2.7');
  assert.equal(addressThrottleKey('2001:db8:1:2:aaaa::1'), 'addr:2001:db8:1:2::/64');
  assert.equal(addressThrottleKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff'), 'addr:2001:db8:1:2::/64');
  assert.equal(addressThrottleKey('2001:db8::1'), 'addr:2001:db8:0:0::/64');
  assert.equal(addressThrottleKey('fe80::1%eth0'), 'addr:fe80:0:0:0::/64');
  assert.equal(addressThrottleKey('::1'), 'addr:0:0:0:0::/64');
  assert.equal(addressThrottleKey('2001:db8:1:2:3:4:192.0.2.1'), 'addr:2001:db8:1:2::/64');
  assert.notEqual(addressThrottleKey('2001:db8:1:3::1'), addressThrottleKey('2001:db8:1:2::1'));
  assert.equal(addressThrottleKey('unix-socket'), 'addr:unix-socket');
});

test('Throttle over the real store: locks, names the retry time, and succeed clears only the user key', async () => {
  const store = await createStore({ url: 'sqlite::memory:', dataDir: tmpdir() });
  try {
    const throttle = new Throttle(store.throttle);
    const keys = [userThrottleKey('Alice'), addressThrottleKey('192.0.2.1')];
    for (let i = 0; i < 4; i++) {
      await throttle.check(keys, T0 + i);
      await throttle.fail(keys, T0 + i);
    }
    await throttle.check(keys, T0 + 4);
    await throttle.fail(keys, T0 + 4);
    const retryAt = new Date(T0 + 4 + MIN).toISOString();
    await assert.rejects(throttle.check(keys, T0 + 5), (e) => {
      assert.ok(isAirlockError(e, 'throttled'));
      assert.equal(e.message, `Too many failed sign-ins. Try again after ${retryAt}.`);
      assert.deepEqual(e.details, { retryAt });
      return true;
    });
    // Either key alone is enough to refuse.
    await assert.rejects(throttle.check([userThrottleKey('alice')], T0 + 5), (e) => isAirlockError(e, 'throttled'));
    await assert.rejects(throttle.check([addressThrottleKey('::ffff:192.0.2.1')], T0 + 5), (e) => isAirlockError(e, 'throttled'));
    await throttle.check([userThrottleKey('bob'), addressThrottleKey('192.0.2.2')], T0 + 5);
    await throttle.check(keys, T0 + 4 + MIN);

    await throttle.succeed(userThrottleKey('alice'));
    assert.equal(await store.throttle.get('user:alice'), undefined);
    assert.equal((await store.throttle.get('addr:192.0.2.1'))?.failures, 5);
  } finally {
    await store.close();
  }
});

test('Throttle: concurrent failures are all counted', async () => {
  const store = await createStore({ url: 'sqlite::memory:', dataDir: tmpdir() });
  try {
    const throttle = new Throttle(store.throttle);
    await Promise.all(Array.from({ length: 12 }, (_, i) => throttle.fail(['user:carol', 'addr:198.51.100.1'], T0 + i)));
    assert.equal((await store.throttle.get('user:carol'))?.failures, 12);
    assert.equal((await store.throttle.get('addr:198.51.100.1'))?.failures, 12);
  } finally {
    await store.close();
  }
});

test('Throttle.begin: the check and the count are one step; a lock refuses without counting; succeed gives the charge back', async () => {
  const store = await createStore({ url: 'sqlite::memory:', dataDir: tmpdir() });
  try {
    const throttle = new Throttle(store.throttle);
    const results = await Promise.allSettled(Array.from({ length: 9 }, (_, i) => throttle.begin([`user:u${i}`, 'addr:203.0.113.5'], T0)));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, P.maxFailures);
    assert.ok(results.every((r) => r.status === 'fulfilled' || isAirlockError(r.reason, 'throttled')));
    assert.equal((await store.throttle.get('addr:203.0.113.5'))?.failures, P.maxFailures);
    // The refused attempts counted nothing against their user names either.
    const refusedUsers = (await Promise.all(Array.from({ length: 9 }, (_, i) => store.throttle.get(`user:u${i}`)))).filter((st) => st === undefined);
    assert.equal(refusedUsers.length, 9 - P.maxFailures);

    const charge = await throttle.begin(['user:v', 'addr:203.0.113.6'], T0);
    assert.equal((await store.throttle.get('addr:203.0.113.6'))?.failures, 1);
    await throttle.succeed('user:v', charge);
    assert.equal(await store.throttle.get('addr:203.0.113.6'), undefined);
    assert.equal(await store.throttle.get('user:v'), undefined);
  } finally {
    await store.close();
  }
});

test('refundThrottleState: exact undo when untouched, one failure less (lock kept) when others counted since', () => {
  const before = failAt(freshThrottleState('addr:x'), T0, T0 + 1, T0 + 2, T0 + 3);
  const after = nextThrottleState(before, T0 + 4, P);
  assert.ok(isThrottled(after, T0 + 4));
  assert.deepEqual(refundThrottleState(after, { before, after }), before);
  assert.equal(refundThrottleState(after, { before: undefined, after }), null);
  const later = nextThrottleState(after, T0 + 5, P);
  assert.deepEqual(refundThrottleState(later, { before, after }), { ...later, failures: later.failures - 1 });
  assert.equal(refundThrottleState(undefined, { before, after }), null);
});
