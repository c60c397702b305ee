import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { puttyGuide, puttyRegFile, puttySessions, puttyUnixFile, windowsPath, type PuttyGuideInput } from './putty-command.ts';

const TESTDATA = join(dirname(fileURLToPath(import.meta.url)), 'testdata');

const input: PuttyGuideInput = {
  user: 'alice',
  files: {
    dir: 'C:\\Users\\alice\\.ssh\\airlock\\putty',
    ppk: 'C:\\Users\\alice\\.ssh\\airlock\\putty\\airlock-key.ppk',
    certificate: 'C:\\Users\\alice\\.ssh\\airlock\\putty\\airlock-key-cert.pub',
    instructions: 'C:\\Users\\alice\\.ssh\\airlock\\putty\\README-PuTTY.txt',
    registry: 'C:\\Users\\alice\\.ssh\\airlock\\putty\\airlock-putty-sessions.reg',
  },
  validBefore: '2026-11-25T10:00:00Z',
  gateway: { host: 'gw.example.org', port: 2222, hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ45mEw6t+5yl2hePPhibeF4O5crnKjoVg8Z2fOo4T28', fingerprint: 'SHA256:Ohyf1DHpaBwnoJBsXBvWsJGtPJm5Q2bSp+1FzrSPbC8', randomart: null },
  hostCa: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDAvdu3vHTZqkHVNskVhOGeMRfzpLp1JUvbAvIwuZNfh airlock-host-ca',
  targets: [
    { name: 'my-vm', project: 'genomics', host: '10.0.0.5', port: 22, address: '10.0.0.5:22', login_user: 'ubuntu', expires_at: null, services: [{ name: 'jupyter', port: 8888, path: '/lab', token: 'abc' }] },
    { name: 'gpu-node', project: 'genomics', host: '10.0.0.6', port: 2200, address: '10.0.0.6:2200', login_user: null, expires_at: null, services: [] },
    { name: 'Bad Name', project: 'x', host: 'h', port: 22, address: 'h:22', login_user: null, expires_at: null, services: [] },
  ],
};

function golden(name: string, actual: string): void {
  const path = join(TESTDATA, name);
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(path, actual);
  assert.equal(actual, readFileSync(path, 'utf8'), `${name} differs from the golden file (UPDATE_GOLDEN=1 rewrites it after a deliberate change)`);
}

test('the Windows registry file and the instructions match the golden files', () => {
  golden('putty-sessions.reg.golden', puttyRegFile(puttySessions(input)));
  golden('putty-readme.golden', puttyGuide(input));
});

test('sessions: the gateway pinned by fingerprint, targets through it as SSH proxy, tunnels, the host CA for the targets only', () => {
  const { sessions, hostCa } = puttySessions(input);
  assert.deepEqual(sessions.map((s) => s.name), ['airlock-gateway', 'my-vm', 'gpu-node', 'airlock-tunnels']);
  assert.equal(sessions[0]!.values.SSHManualHostKeys, input.gateway.fingerprint);
  assert.deepEqual({ m: sessions[1]!.values.ProxyMethod, h: sessions[1]!.values.ProxyHost, u: sessions[1]!.values.UserName }, { m: 6, h: 'airlock-gateway', u: 'ubuntu' });
  assert.equal(sessions[2]!.values.UserName, 'alice');
  assert.equal(sessions[3]!.values.PortForwardings, 'L127.0.0.1:8888=my-vm:8888');
  assert.equal(hostCa!.values.Validity, 'my-vm || gpu-node');
  assert.equal(puttyUnixFile(sessions[1]!).split('\n')[0], 'HostName=my-vm');
});

test('an e-mail style user: the gateway session logs in as bob@uni.example, targets as bob_uni.example', () => {
  const { sessions } = puttySessions({ ...input, user: 'bob@uni.example' });
  assert.equal(sessions[0]!.values.UserName, 'bob@uni.example');
  assert.equal(sessions[1]!.values.UserName, 'ubuntu');
  assert.equal(sessions[2]!.values.UserName, 'bob_uni.example');
  assert.match(puttyGuide({ ...input, user: 'bob@uni.example' }), /-P 2200 bob_uni\.example@gpu-node/);
});

test('WSL paths become Windows paths in the registry file', () => {
  assert.equal(windowsPath('/mnt/c/Users/alice/airlock/k.ppk'), 'C:\\Users\\alice\\airlock\\k.ppk');
  assert.equal(windowsPath('/home/alice/k.ppk'), '/home/alice/k.ppk');
  const reg = puttyRegFile(puttySessions({ ...input, files: { ...input.files, ppk: '/mnt/d/keys/k.ppk' } }));
  assert.match(reg, /"PublicKeyFile"="D:\\\\keys\\\\k\.ppk"/);
});

test('a value with a newline (a smuggled setting) is refused, never written', () => {
  const bad = { ...input, gateway: { ...input.gateway, fingerprint: 'SHA256:x\nProxyMethod=5' } };
  assert.throws(() => puttyRegFile(puttySessions(bad)), /control character/);
  assert.throws(() => puttyUnixFile(puttySessions(bad).sessions[0]!), /control character/);
});
