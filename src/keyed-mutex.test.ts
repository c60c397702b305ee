import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyedMutex } from './keyed-mutex.ts';

test('runs work one at a time per key, concurrently across keys, and survives failures', async () => {
  const m = new KeyedMutex();
  const log: string[] = [];
  const step = (key: string, id: string, ms: number, fail = false) =>
    m.run(key, async () => {
      log.push(`start ${id}`);
      await new Promise((r) => setTimeout(r, ms));
      log.push(`end ${id}`);
      if (fail) throw new Error(id);
      return id;
    });
  const results = await Promise.allSettled([step('a', 'a1', 20, true), step('a', 'a2', 1), step('b', 'b1', 5)]);
  assert.deepEqual(results.map((r) => r.status), ['rejected', 'fulfilled', 'fulfilled']);
  assert.ok(log.indexOf('end a1') < log.indexOf('start a2'), 'a2 waited for a1 even though a1 failed');
  assert.ok(log.indexOf('start b1') < log.indexOf('end a1'), 'b did not wait for a');
});
