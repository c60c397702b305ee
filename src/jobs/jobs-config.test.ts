import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isAirlockError } from '../errors.ts';
import { parseJobsConfig } from './jobs-config.ts';

test('AIRLOCK_JOB_PORTS: a range of unprivileged ports, with the quarantine (default 1h); unset = jobs off', () => {
  assert.equal(parseJobsConfig(undefined, undefined), null);
  assert.deepEqual(parseJobsConfig('40000-40999', undefined), { first: 40000, last: 40999, quarantineMs: 3_600_000 });
  assert.deepEqual(parseJobsConfig(' 40000 - 40000 ', '10m'), { first: 40000, last: 40000, quarantineMs: 600_000 });
  for (const bad of ['40000', '22-100', '40999-40000', '40000-70000', '1024-30000', 'a-b']) {
    assert.throws(() => parseJobsConfig(bad, undefined), (err) => isAirlockError(err, 'config') && /AIRLOCK_JOB_PORTS/.test(err.message), bad);
  }
  assert.throws(() => parseJobsConfig('40000-40001', '60d'), (err) => isAirlockError(err, 'config'));
});
