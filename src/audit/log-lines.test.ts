import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { batchedLineWriter } from './log-lines.ts';

test('lines of one event-loop turn go out as one write, in order, one per line', async () => {
  const chunks: string[] = [];
  const w = batchedLineWriter((c) => chunks.push(c));
  w.line(JSON.stringify({ n: 1 }));
  w.line(JSON.stringify({ n: 2 }));
  assert.deepEqual(chunks, [], 'nothing is written inside the turn');
  await new Promise((r) => setImmediate(r));
  w.line(JSON.stringify({ n: 3 }));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(chunks, ['{"n":1}\n{"n":2}\n', '{"n":3}\n']);
});

test('pending lines are written when the process exits with process.exit()', () => {
  const url = new URL('./log-lines.ts', import.meta.url).href;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `import { stderrLines } from ${JSON.stringify(url)}; const l = stderrLines(); l('{"a":1}'); l('{"b":2}'); process.exit(0);`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '{"a":1}\n{"b":2}\n');
});
