/** The auditor: redaction, the log line and `observe` come after the event is stored, by append or by the caller's own transaction. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createAuditor } from './auditor.ts';
import type { AuditEvent, AuditRepository } from '../store/repositories.ts';

function fixture(append: (event: AuditEvent) => Promise<void>) {
  const lines: string[] = [];
  const observed: AuditEvent[] = [];
  const repository: AuditRepository = { append, list: () => Promise.resolve([]), search: () => Promise.resolve([]) };
  const auditor = createAuditor({ repository, clock: { now: () => 1_000 }, log: (line) => lines.push(line), observe: (e) => observed.push(e) });
  return { auditor, lines, observed };
}

test('recordWith hands the redacted event to the caller’s write, then logs and observes it; append is not used', async () => {
  const { auditor, lines, observed } = fixture(() => Promise.reject(new Error('append must not be called')));
  const written: AuditEvent[] = [];
  const result = await auditor.recordWith({ type: 'cert.issue', outcome: 'success', actor: 'ann', clientAddress: null, details: { serial: '7', token: 'secret' } }, (event) => {
    written.push(event);
    assert.equal(lines.length, 0, 'nothing is logged before the write succeeds');
    return Promise.resolve('stored');
  });
  assert.equal(result, 'stored');
  assert.deepEqual(written.map((e) => [e.at, e.details]), [[1_000, { serial: '7', token: '[redacted]' }]]);
  assert.deepEqual(observed, written);
  assert.equal(lines.length, 1);
  assert.doesNotMatch(lines[0]!, /secret/);
});

test('when the write fails, recordWith passes the error on and neither logs nor observes', async () => {
  const { auditor, lines, observed } = fixture(() => Promise.resolve());
  await assert.rejects(auditor.recordWith({ type: 'cert.issue', outcome: 'success', actor: 'ann', clientAddress: null, details: {} }, () => Promise.reject(new Error('quota'))), /quota/);
  assert.equal(lines.length, 0);
  assert.equal(observed.length, 0);
  await auditor.record({ type: 'auth.login', outcome: 'failure', actor: null, clientAddress: null, details: { password: 'x' } });
  assert.equal(observed.length, 1);
  assert.deepEqual(observed[0]!.details, { password: '[redacted]' });
});
