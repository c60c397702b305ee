import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isAirlockError } from '../errors.ts';
import { parseJobForwarding, parseJobsConfig } from './jobs-config.ts';

test('AIRLOCK_JOB_PORTS: a range of unprivileged ports, with the quarantine (default 1h); unset = jobs off', () => {
  assert.equal(parseJobsConfig(undefined, undefined), null);
  assert.deepEqual(parseJobsConfig('40000-40999', undefined), { first: 40000, last: 40999, quarantineMs: 3_600_000 });
  assert.deepEqual(parseJobsConfig(' 40000 - 40000 ', '10m'), { first: 40000, last: 40000, quarantineMs: 600_000 });
  for (const bad of ['40000', '22-100', '40999-40000', '40000-70000', '1024-30000', 'a-b']) {
    assert.throws(() => parseJobsConfig(bad, undefined), (err) => isAirlockError(err, 'config') && /AIRLOCK_JOB_PORTS/.test(err.message), bad);
  }
  assert.throws(() => parseJobsConfig('40000-40001', '60d'), (err) => isAirlockError(err, 'config'));
});

test('AIRLOCK_JOB_FORWARDING: x11 and/or agent; unset or none = nothing; anything else is refused', () => {
  assert.deepEqual(parseJobForwarding(undefined), []);
  assert.deepEqual(parseJobForwarding('none'), []);
  assert.deepEqual(parseJobForwarding(' Agent , x11,agent'), ['agent', 'x11']);
  for (const bad of ['tcp', 'agent,port-forwarding', 'all']) {
    assert.throws(() => parseJobForwarding(bad), (err) => isAirlockError(err, 'config') && /AIRLOCK_JOB_FORWARDING/.test(err.message), bad);
  }
});
