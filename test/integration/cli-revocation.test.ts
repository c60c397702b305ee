/**
 * Revocation seen by the researcher (issue 11 item 3), with the real `airlock` binary against a real
 * server: after `airlock certs revoke --all`, `airlock status` and `airlock doctor` say the certificate
 * is revoked and to run airlock login (before, status said "Status: OK" and doctor "is valid until");
 * with the server unreachable they say that revocation could not be checked; a new login is OK again.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../harness/processes.ts';
import type { Finding } from '../../src/cli/doctor-checks.ts';
import type { LocalStatus } from '../../src/cli/status-command.ts';
import { startSignedInCliWorld, type CliWorld } from './cli-fixture.ts';

let w: CliWorld;

before(async () => {
  w = await startSignedInCliWorld();
});

after(async () => {
  await w?.stop();
});

interface Report { ok: boolean; findings: Finding[] }

async function status(): Promise<{ code: number | null; text: string; json: LocalStatus }> {
  const t = await w.cli(['status']);
  const j = await w.cli(['status', '--json']);
  assert.equal(t.code, j.code);
  return { code: t.code, text: t.stdout, json: JSON.parse(j.stdout) as LocalStatus };
}

async function certificateFindings(): Promise<{ code: number | null; findings: Finding[] }> {
  const r = await w.cli(['doctor', '--json']);
  return { code: r.code, findings: (JSON.parse(r.stdout) as Report).findings.filter((f) => f.check === 'certificate') };
}

test('signed in: status OK and not revoked; doctor says valid and not revoked', async () => {
  const s = await status();
  assert.equal(s.code, 0, s.text);
  assert.match(s.text, /^Revoked: {6}no$/m);
  assert.match(s.text, /^Status: {7}OK$/m);
  assert.equal(s.json.revoked, false);
  const d = await certificateFindings();
  assert.deepEqual(d.findings.map((f) => f.status), ['ok']);
  assert.match(d.findings[0]!.what, /is valid until .* and not revoked\.$/);
});

test('after airlock certs revoke --all: status and doctor say revoked and what to do', async () => {
  const r = await w.cli(['certs', 'revoke', '--all']);
  assert.equal(r.code, 0, r.stderr);
  const s = await status();
  assert.equal(s.code, 1);
  assert.doesNotMatch(s.text, /Status: {7}OK/);
  assert.match(s.text, /^Revoked: {6}yes$/m);
  assert.match(s.text, /the certificate \d+ has been revoked, so the gateway and the nodes refuse it: get a new certificate with airlock login/);
  assert.equal(s.json.revoked, true);
  const d = await certificateFindings();
  assert.equal(d.code, 1);
  const fail = d.findings.find((f) => f.status === 'fail');
  assert.ok(fail, JSON.stringify(d.findings));
  assert.match(fail.what, /^Your certificate \d+ has been revoked\.$/);
  assert.match(fail.fix!, /^airlock login --server http:\/\/127\.0\.0\.1:\d+ --user alice$/);
  assert.ok(!d.findings.some((f) => f.status === 'ok'), 'nothing says the certificate is fine');
  const text = await w.cli(['doctor']);
  assert.match(text.stdout, /FAIL {2}certificate: Your certificate \d+ has been revoked\./);
});

test('server unreachable: status and doctor say revocation could not be checked', async () => {
  const sessionFile = join(w.home, '.config', 'airlock', 'session.json');
  const saved = readFileSync(sessionFile, 'utf8');
  try {
    const session = JSON.parse(saved) as { server: string };
    writeFileSync(sessionFile, JSON.stringify({ ...session, server: `http://127.0.0.1:${await freePort()}` }), { mode: 0o600 });
    const s = await status();
    assert.equal(s.json.revoked, null);
    assert.match(s.json.revocation_unchecked ?? '', /Cannot reach the Airlock server/);
    assert.match(s.text, /^Revoked: {6}could not be checked \(Cannot reach the Airlock server/m);
    assert.doesNotMatch(s.text, /^Status: {7}OK$/m, 'never a plain OK without the check');
    const d = await certificateFindings();
    const warn = d.findings.find((f) => f.status === 'warn' && /revoked could not be checked/.test(f.what));
    assert.ok(warn, JSON.stringify(d.findings));
    assert.ok(!d.findings.some((f) => /and not revoked/.test(f.what)));
  } finally {
    writeFileSync(sessionFile, saved, { mode: 0o600 });
  }
});

test('a new login: OK again', async () => {
  const login = await w.login();
  assert.equal(login.code, 0, login.stderr);
  const s = await status();
  assert.equal(s.code, 0, s.text);
  assert.equal(s.json.revoked, false);
});
