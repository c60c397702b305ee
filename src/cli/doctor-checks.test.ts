import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signCertificate } from '../ssh/certificate.ts';
import { publicKeyFromKeyObject } from '../ssh/keys.ts';
import { formatOpenSshPrivateKey } from '../ssh/private-key.ts';
import type { ClientSession } from './client-state.ts';
import { checkCertificate, checkInclude, checkLocalPorts, checkSshClient, clockSkewMs, presentedHostKey, runChecks, type DoctorContext, type Finding } from './doctor-checks.ts';
import { renderFindings } from './doctor-command.ts';
import { anyFreePort } from './local-ports.ts';
import { includeLine } from './ssh-include.ts';

const HOUR = 3_600_000;

function withHome(f: (home: string) => Promise<void>): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), 'airlock-doctor-'));
  return f(home).finally(() => rmSync(home, { recursive: true, force: true }));
}

function ctx(home: string, overrides: Partial<DoctorContext> = {}): DoctorContext {
  return { now: () => Date.now(), home, env: {}, session: undefined, keyName: 'airlock', ports: [], memo: new Map(), ...overrides };
}

/** Writes ~/.ssh/airlock-key and a certificate for it valid from `after` to `before` (epoch ms). */
function writeKeyAndCert(home: string, after: number, before: number, opts: { certKey?: KeyObject } = {}): void {
  const ssh = join(home, '.ssh');
  mkdirSync(ssh, { recursive: true, mode: 0o700 });
  const { privateKey } = generateKeyPairSync('ed25519');
  const ca = generateKeyPairSync('ed25519').privateKey;
  writeFileSync(join(ssh, 'airlock-key'), formatOpenSshPrivateKey(privateKey, 'alice@airlock'), { mode: 0o600 });
  const cert = signCertificate({
    type: 'user', publicKey: publicKeyFromKeyObject(opts.certKey ?? privateKey), serial: 42n, keyId: 'alice', principals: ['alice'],
    validAfter: BigInt(Math.floor(after / 1000)), validBefore: BigInt(Math.floor(before / 1000)), criticalOptions: {}, extensions: { 'permit-pty': '' },
  }, ca);
  writeFileSync(join(ssh, 'airlock-key-cert.pub'), `${cert.certType} ${cert.blob.toString('base64')}\n`, { mode: 0o600 });
}

const only = (fs: Finding[]) => fs.map((f) => [f.status, f.what]);

test('certificate: missing, expired, not yet valid, expiring soon, for another key, unprotected key, fine', async () => {
  await withHome(async (home) => {
    let f = await checkCertificate(ctx(home));
    assert.equal(f[0]!.status, 'fail');
    assert.match(f[0]!.what, /There is no key at .*airlock-key\./);
    assert.equal(f[0]!.fix, 'airlock login --server URL --user NAME');

    const now = Date.now();
    writeKeyAndCert(home, now - 25 * HOUR, now - HOUR);
    f = await checkCertificate(ctx(home));
    assert.deepEqual(f.map((x) => x.status), ['fail']);
    assert.match(f[0]!.what, /^Your certificate 42 expired at \S+ \(1h\S* ago\)\.$/);
    assert.match(f[0]!.why!, /Permission denied \(publickey\)/);

    writeKeyAndCert(home, now + 10 * 60_000, now + 24 * HOUR);
    f = await checkCertificate(ctx(home));
    assert.match(f[0]!.what, /is not valid before/);
    assert.match(f[0]!.fix, /timedatectl set-ntp true/);

    writeKeyAndCert(home, now - HOUR, now + 20 * 60_000);
    f = await checkCertificate(ctx(home));
    assert.deepEqual(f.map((x) => x.status), ['warn']);
    assert.match(f[0]!.what, /expires in (19m\d*s?|20m)/);

    writeKeyAndCert(home, now - HOUR, now + 23 * HOUR, { certKey: generateKeyPairSync('ed25519').privateKey });
    f = await checkCertificate(ctx(home));
    assert.match(f[0]!.what, /is for another key than/);

    writeKeyAndCert(home, now - HOUR, now + 23 * HOUR);
    f = await checkCertificate(ctx(home));
    assert.deepEqual(only(f).map(([s]) => s), ['ok']);
    assert.match(f[0]!.what, /^Certificate 42 for alice is valid until/);

    chmodSync(join(home, '.ssh', 'airlock-key'), 0o644);
    f = await checkCertificate(ctx(home));
    assert.match(f[0]!.what, /can be read by other users/);
    assert.match(f[0]!.fix, /^chmod 600 /);
  });
});

test('include: generated file missing, Include missing, shadowed by Host or an option, fine', async () => {
  await withHome(async (home) => {
    const owned = join(home, '.ssh', 'airlock', 'config');
    const user = join(home, '.ssh', 'config');
    let f = await checkInclude(ctx(home));
    assert.match(f[0]!.what, /has not been written/);
    assert.equal(f[0]!.fix, 'airlock config');

    mkdirSync(join(home, '.ssh', 'airlock'), { recursive: true });
    writeFileSync(owned, 'Host vm1\n    HostName vm1\n');
    f = await checkInclude(ctx(home));
    assert.match(f[0]!.what, /does not include Airlock's config/);
    assert.match(f[0]!.why!, /Could not resolve hostname/);

    writeFileSync(user, `Host *\n    User bob\n${includeLine(owned)}\n`);
    f = await checkInclude(ctx(home));
    assert.equal(f[0]!.status, 'fail');
    assert.match(f[0]!.what, /shadowed: line 1 of .* \("Host \*"\) comes before it \(line 3\)/);
    assert.match(f[0]!.fix, /moves the Include line to the top/);

    writeFileSync(user, `User bob\n${includeLine(owned)}\n`);
    f = await checkInclude(ctx(home));
    assert.match(f[0]!.why!, /overrides Airlock's setting/);

    writeFileSync(user, `${includeLine(owned)}\nHost *\n    User bob\n`);
    f = await checkInclude(ctx(home));
    assert.deepEqual(f.map((x) => x.status), ['ok']);
  });
});

test('local ports: one in use is named with the fix; a free one is fine', async () => {
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const taken = (busy.address() as { port: number }).port;
  try {
    const free = await anyFreePort();
    const f = await checkLocalPorts(ctx('/nonexistent', { ports: [taken, free] }));
    assert.deepEqual(f.map((x) => x.status), ['fail', 'ok']);
    assert.equal(f[0]!.what, `Local port ${taken} is in use by another program.`);
    assert.match(f[0]!.why!, new RegExp(`bind \\[127\\.0\\.0\\.1\\]:${taken}: Address already in use`));
    assert.match(f[0]!.fix!, /--local-port \d+ .*ss -ltnp/);
  } finally {
    busy.close();
  }
});

test('local ports: a service port reported busy through --port is not called free in the same report', async () => {
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const taken = (busy.address() as { port: number }).port;
  try {
    const free = await anyFreePort();
    const service = (name: string, port: number) => ({ name, port, path: null, token: null });
    const list = [
      { name: 'job-1', project: 'p', host: '10.0.0.1', port: 22, address: '10.0.0.1:22', login_user: null, services: [service('jupyter', taken), service('redis', free)], expires_at: null },
    ];
    const session: ClientSession = { server: 'http://127.0.0.1:1', user: 'alice', token: 't', token_expires_at: '', key_path: '', certificate_path: '' };
    // The target list as the server would send it (the memo is where the checks share it).
    const memo = new Map<string, Promise<unknown>>([['targets', Promise.resolve({ ok: true, value: list })]]);
    let f = await checkLocalPorts(ctx('/nonexistent', { session, memo, ports: [taken] }));
    assert.deepEqual(only(f), [
      ['fail', `Local port ${taken} is in use by another program.`],
      ['ok', `The other usual local ports of your services are free (${free}).`],
    ]);
    f = await checkLocalPorts(ctx('/nonexistent', { session, memo: new Map(memo), ports: [] }));
    assert.deepEqual(f.map((x) => x.status), ['warn', 'ok']);
    assert.match(f[0]!.what, new RegExp(`^Local port ${taken}, the usual one for jupyter on job-1, is in use`));
    assert.ok(!f.some((x) => x.status === 'ok' && x.what.startsWith('The usual local ports')), 'no "all free" next to a busy one');
    const rendered = renderFindings(f);
    assert.doesNotMatch(rendered, /The usual local ports of your services are free/);
  } finally {
    busy.close();
  }
});

test('the ssh client here is recent enough', async () => {
  const f = await checkSshClient(ctx('/nonexistent'));
  assert.equal(f[0]!.status, 'ok', f[0]!.what);
});

test('clock skew from the Date header: the header is truncated to the second', () => {
  // Server at 12:00:00.xxx (header says 12:00:00), request sent 11:59:00.2, answered 11:59:00.4: 60 s behind.
  const server = Date.parse('2026-01-01T12:00:00Z');
  const skew = clockSkewMs({ serverDate: server, sent: server - 60_000 + 200, received: server - 60_000 + 400 });
  assert.equal(skew, -60_200);
});

test('presentedHostKey: a closed port is "connection refused"', async () => {
  const port = await anyFreePort();
  const p = await presentedHostKey('127.0.0.1', port, 5000);
  assert.equal(p.ok, false);
  assert.equal(p.ok ? undefined : p.code, 'ECONNREFUSED');
});

test('a session at an unreachable server: the server check fails, the others that need it skip, nothing crashes', async () => {
  await withHome(async (home) => {
    const port = await anyFreePort();
    const session: ClientSession = { server: `http://127.0.0.1:${port}`, user: 'alice', token: 'x', token_expires_at: new Date(Date.now() + HOUR).toISOString(), key_path: join(home, 'k'), certificate_path: join(home, 'k-cert.pub') };
    const findings = await runChecks(ctx(home, { session }));
    const byCheck = (name: string) => findings.filter((f) => f.check === name);
    assert.equal(byCheck('server')[0]!.status, 'fail');
    assert.match(byCheck('server')[0]!.what, /cannot be reached/);
    assert.equal(byCheck('clock')[0]!.status, 'skip');
    assert.equal(byCheck('gateway-reachable')[0]!.status, 'skip');
    const text = renderFindings(findings);
    assert.match(text, /^FAIL {2}/);
    assert.match(text, /\n {6}why: /);
    assert.match(text, /\n {6}fix: /);
    assert.match(text, /\d+ problem\(s\), \d+ warning\(s\)\.$/);
  });
});
