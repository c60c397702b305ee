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
  assert.equal(formatDuration(93_784_000), '1d2h3m4s');
  assert.equal(parseDuration(formatDuration(5_400_000)), 5_400_000);
});
