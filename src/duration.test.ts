import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration, formatDuration } from './duration.ts';
import { isAirlockError } from './errors.ts';

test('parses the forms people write', () => {
  assert.equal(parseDuration('24h'), 86_400_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('90'), 90_000);
  assert.equal(parseDuration('7d'), 604_800_000);
});

test('refuses anything else with a clear error', () => {
  for (const bad of ['', 'h', '24 hours', '-1h', '1.5h', '24hx', '9'.repeat(30) + 'd']) {
    assert.throws(() => parseDuration(bad, 'certificate TTL'), (e) => isAirlockError(e, 'bad_request') && /certificate TTL/.test(e.message));
  }
});

test('formats compactly and round-trips', () => {
  assert.equal(formatDuration(86_400_000), '1d');
  assert.equal(formatDuration(93_784_000), '1d2h');
  assert.equal(parseDuration(formatDuration(5_400_000)), 5_400_000);
  assert.equal(formatDuration(42_000), '42s');
  assert.equal(formatDuration(330_000), '5m30s');
  assert.equal(formatDuration(500), '500ms');
});

test('a lifetime reads the same whichever way it was measured: 23h59m59s and 24h are both 1d', () => {
  // status floors to whole seconds, login subtracts milliseconds: issue 11 saw (23h59m59s) and (1d).
  for (const ms of [86_399_000, 86_399_400, 86_399_600, 86_400_000, 86_400_400]) assert.equal(formatDuration(ms), '1d', String(ms));
  assert.equal(formatDuration(3_599_500), '1h');
  assert.equal(formatDuration(119_700), '2m');
  assert.equal(formatDuration(23 * 3_600_000 + 29 * 60_000 + 59_000), '23h30m');
  assert.equal(formatDuration(90 * 86_400_000 + 3_600_000), '90d1h');
});
