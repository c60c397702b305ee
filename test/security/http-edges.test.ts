/**
 * Issue 10 item 6, the smaller edges, each attacked the way an outsider would: a user name made of
 * terminal escapes and a forged line shown by `airlock admin audit`; route parameters that reached the
 * database unchecked (a serial past 2^64, NUL bytes) and answered 500; `airlock login` sending a
 * password over plain http to another machine.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { airlock } from '../harness/airlock.ts';
import { postJson, startTestServer, TEST_PASSWORD } from '../harness/in-process.ts';

test('airlock admin audit escapes attacker-chosen fields: no terminal escapes, no forged lines', async () => {
  const t = await startTestServer();
  try {
    // The login form's "user" is anything the client sends, and the audit record keeps it.
    const evil = 'x\u001b[2J\u001b]0;pwned\u0007\n2026-12-04T00:00:00Z  auth  success  admin';
    const r = await postJson(`${t.url}/api/v1/login`, { user: evil, password: 'guess', otp: '123456' });
    assert.equal(r.status, 401);
    const text = await airlock(['admin', '--data-dir', t.dataDir, 'audit', '--type', 'auth']);
    assert.equal(text.code, 0, text.stderr);
    // eslint-disable-next-line no-control-regex -- the assertion is about control characters
    assert.doesNotMatch(text.stdout, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/, 'no control character reaches the terminal');
    const lines = text.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 2, `one header and one event line, no forged line:\n${text.stdout}`);
    assert.ok(lines[1]!.includes('x\\x1b[2J\\x1b]0;pwned\\x07\\n2026-12-04T00:00:00Z'), lines[1]);
    // JSON stays JSON, with the exact value.
    const json = await airlock(['admin', '--data-dir', t.dataDir, 'audit', '--type', 'auth', '--json']);
    assert.equal((JSON.parse(json.stdout) as { actor: string }[])[0]!.actor, evil);
  } finally {
    await t.stop();
  }
});

test('route parameters that cannot name anything are a 400 with a clear message, never a 500', async () => {
  const t = await startTestServer();
  try {
    const { secret } = await t.addUser('erin');
    const login = await postJson(`${t.url}/api/v1/login`, { user: 'erin', password: TEST_PASSWORD, otp: t.totp(secret) });
    assert.equal(login.status, 200, login.text);
    const token = login.json.token as string;
    const call = async (method: string, path: string) => {
      const res = await fetch(`${t.url}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
      return { status: res.status, body: (await res.json()) as { error?: { code: string; message: string } } };
    };
    for (const serial of ['99999999999999999999', '1'.repeat(21), '18446744073709551616', '-1', '1e3', '%00']) {
      const res = await call('DELETE', `/api/v1/certificates/${serial}`);
      assert.equal(res.status, 400, `${serial}: ${JSON.stringify(res.body)}`);
      assert.match(res.body.error?.message ?? '', /is not a certificate serial number/);
    }
    assert.equal((await call('DELETE', '/api/v1/certificates/18446744073709551615')).status, 404, 'the largest uint64 is a serial, just not one of hers');
    for (const path of ['/api/v1/projects/a%00b/authorized_keys', `/api/v1/projects/${'p'.repeat(300)}/authorized_keys`, '/api/v1/targets/vm%00']) {
      const method = path.startsWith('/api/v1/targets/') ? 'DELETE' : 'GET';
      const res = await call(method, path);
      assert.ok(res.status === 400 || res.status === 403, `${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    }
    const nul = await postJson(`${t.url}/api/v1/login`, { user: 'erin\u0000', password: TEST_PASSWORD, otp: '123456' });
    assert.equal(nul.status, 400, nul.text);
  } finally {
    await t.stop();
  }
});

test('airlock login refuses to send a password to a plain-http server that is not this machine', async () => {
  const home = mkdtempSync(join(tmpdir(), 'airlock-home-'));
  try {
    // 192.0.2.10 (TEST-NET-1) is never reachable: the refusal must come before any connection attempt.
    const r = await airlock(['login', '--server', 'http://192.0.2.10:8080', '--user', 'alice', '--password-stdin', '--otp', '123456'], { input: 'a password\n', env: { HOME: home }, timeoutMs: 20_000 });
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim(), 'airlock: Refusing to send your password and session over plain http to 192.0.2.10:8080: use the server\'s https:// URL, or add --insecure-http if you really mean it.');
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
