import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, offsetClock } from './clock.ts';

test('a manual clock moves only when told', () => {
  const c = new ManualClock(1000);
  assert.equal(c.now(), 1000);
  c.advance(500);
  assert.equal(c.now(), 1500);
  assert.equal(offsetClock(c, -1500).now(), 0);
});
