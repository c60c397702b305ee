import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isAirlockError } from '../errors.ts';
import { StartLimiter } from './start-limits.ts';

const T0 = 1_760_000_000_000;

test('per address (IPv6 per /64) and in total, per minute; the refusal names the time to retry', () => {
  const l = new StartLimiter({ perAddress: 3, total: 5 });
  for (let i = 0; i < 3; i++) l.take('192.0.2.1', T0 + i);
  assert.throws(() => l.take('::ffff:192.0.2.1', T0 + 10), (e) => isAirlockError(e, 'throttled') && e.details?.limit === 'per_address' && /try again after 2025-10-09T08:54:20.000Z/.test(e.message));
  l.take('2001:db8:1:2::1', T0 + 11);
  assert.throws(() => { l.take('2001:db8:1:2::2', T0 + 12); l.take('2001:db8:1:2::3', T0 + 12); l.take('2001:db8:1:2::4', T0 + 12); }, (e) => isAirlockError(e, 'throttled'));
  assert.throws(() => l.take('198.51.100.1', T0 + 13), (e) => isAirlockError(e, 'throttled') && e.details?.limit === 'total');
  assert.throws(() => l.take(null, T0 + 13), (e) => isAirlockError(e, 'throttled'));
  // A new window starts afresh.
  l.take('192.0.2.1', T0 + 60_000);
  l.take('198.51.100.1', T0 + 60_001);
});
