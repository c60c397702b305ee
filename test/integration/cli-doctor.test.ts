/**
 * `airlock doctor` against the real thing: after login it finds nothing wrong; then each fault of the
 * platforms' SSH FAQ is injected — a stopped ssh-agent, too many keys in the agent, an expired
 * certificate, a changed gateway host key, a local port in use, a missing or shadowed Include — and
 * doctor names it, says why, gives the fix, and exits 1. Where a fault is real, plain ssh fails too,
 * and after the fix doctor is content again.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, createPublicKey } from 'node:crypto';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { run, startProcess, stopProcess, waitFor } from '../harness/processes.ts';
import { loadCaKeys } from '../../src/ca/ca-keys.ts';
import { signCertificate } from '../../src/ssh/certificate.ts';
import { formatPublicKey, publicKeyFromKeyObject } from '../../src/ssh/keys.ts';
import { formatOpenSshPrivateKey, parseOpenSshPrivateKey } from '../../src/ssh/private-key.ts';
import type { Finding } from '../../src/cli/doctor-checks.ts';
import { includeLine } from '../../src/cli/ssh-include.ts';
import { startSignedInCliWorld, runDetached, type CliWorld } from './cli-fixture.ts';

let w: CliWorld;

before(async () => {
  w = await startSignedInCliWorld();
});

after(async () => {
  await w?.stop();
});

interface Report { ok: boolean; problems: number; warnings: number; findings: Finding[] }

async function doctor(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; report: Report; text: string }> {
  const json = await w.cli(['doctor', '--json', ...args], { env });
  const report = JSON.parse(json.stdout) as Report;
  const text = await w.cli(['doctor', ...args], { env });
  assert.equal(text.code, json.code, 'the same verdict in text and JSON');
  return { code: json.code, report, text: text.stdout };
}

const failing = (r: Report) => r.findings.filter((f) => f.status === 'fail');
const ssh = (args: string[]) => runDetached('ssh', ['-F', w.sshConfig, '-o', 'ControlMaster=no', '-o', 'ControlPath=none', ...args], w.env());

test('after login, nothing fails', async () => {
  const { code, report, text } = await doctor();
  assert.equal(code, 0, text);
  assert.equal(report.ok, true);
  assert.deepEqual(failing(report), []);
  for (const check of ['ssh-client', 'session', 'certificate', 'server', 'clock', 'gateway-reachable', 'gateway-host-key', 'include', 'ssh-config', 'config-current']) {
    assert.ok(report.findings.some((f) => f.check === check && f.status === 'ok'), `${check} is ok: ${text}`);
  }
  assert.match(text, /^ok {4}gateway-host-key: The gateway's host key SHA256:\S+ matches the published one\.$/m);
});

test('ssh-agent: running and fine; too many keys; then stopped', async () => {
  const sock = join(w.home, '..', 'agent.sock');
  const agent = startProcess('ssh-agent', ['-D', '-a', sock]);
  const env = { SSH_AUTH_SOCK: sock };
  try {
    await waitFor('ssh-agent', async () => ((await run('ssh-add', ['-l'], { env: { ...process.env, ...env } })).code === 1 ? true : undefined));
    let r = await doctor([], env);
    assert.equal(r.report.findings.find((f) => f.check === 'agent')!.status, 'ok');

    for (let i = 0; i < 6; i++) {
      const k = join(w.home, '..', `extra-key-${i}`);
      writeFileSync(k, formatOpenSshPrivateKey(generateKeyPairSync('ed25519').privateKey, `extra-${i}`), { mode: 0o600 });
      assert.equal((await run('ssh-add', [k], { env: { ...process.env, ...env } })).code, 0);
    }
    r = await doctor([], env);
    const many = r.report.findings.find((f) => f.check === 'agent-keys')!;
    assert.equal(many.status, 'warn');
    assert.equal(many.what, 'ssh-agent holds 6 keys.');
    assert.match(many.why!, /Too many authentication failures/);
    assert.match(many.fix!, /^ssh-add -D/);
    assert.equal(r.code, 0, 'a warning alone does not fail');
    // The generated config is immune: IdentitiesOnly offers only Airlock's key.
    const through = await ssh(['vm1', 'true']);
    assert.equal(through.code, 0, through.stderr);
  } finally {
    await stopProcess(agent.child);
  }
  const r = await doctor([], env);
  assert.equal(r.code, 1);
  const f = failing(r.report).find((x) => x.check === 'agent')!;
  assert.match(f.what, /^ssh-agent is not running: nothing answers at SSH_AUTH_SOCK=.*agent\.sock/);
  assert.match(f.why!, /Could not open a connection to your authentication agent/);
  assert.match(f.fix!, /^eval "\$\(ssh-agent\)"/);
  assert.match(r.text, /^FAIL {2}agent: ssh-agent is not running/m);
});

test('an expired certificate: doctor says so and how to get a new one; ssh is refused meanwhile', async () => {
  const certPath = join(w.home, '.ssh', 'airlock-key-cert.pub');
  const good = join(w.home, '..', 'good-cert.pub');
  copyFileSync(certPath, good);
  try {
    // The real user CA signs a certificate for the same key that ended an hour ago.
    const ca = loadCaKeys(w.gw.dataDir).user.privateKey;
    const key = parseOpenSshPrivateKey(readFileSync(join(w.home, '.ssh', 'airlock-key'), 'utf8'));
    const now = Math.floor(Date.now() / 1000);
    const expired = signCertificate({
      type: 'user', publicKey: publicKeyFromKeyObject(createPublicKey(key)), serial: 7n, keyId: 'Airlock:alice', principals: ['alice'],
      validAfter: BigInt(now - 25 * 3600), validBefore: BigInt(now - 3600), criticalOptions: {}, extensions: { 'permit-port-forwarding': '', 'permit-pty': '' },
    }, ca);
    writeFileSync(certPath, `${expired.certType} ${expired.blob.toString('base64')}\n`, { mode: 0o600 });

    const refused = await ssh(['vm1', 'true']);
    assert.equal(refused.code, 255);
    assert.match(refused.stderr, /Permission denied/);

    const r = await doctor();
    assert.equal(r.code, 1);
    const f = failing(r.report).find((x) => x.check === 'certificate')!;
    assert.match(f.what, /^Your certificate 7 expired at \S+ \(1h\S* ago\)\.$/);
    assert.match(f.why!, /Permission denied \(publickey\)/);
    assert.equal(f.fix, `airlock login --server ${w.gw.server.httpUrl} --user alice`);
  } finally {
    copyFileSync(good, certPath);
  }
  assert.equal((await doctor()).code, 0);
});

test('a changed gateway host key: named, with the fingerprints; ssh refuses; airlock config fixes it', async () => {
  const known = join(w.home, '.ssh', 'airlock', 'known_hosts');
  const text = readFileSync(known, 'utf8');
  const other = formatPublicKey(publicKeyFromKeyObject(generateKeyPairSync('ed25519').publicKey));
  const hostField = `[127.0.0.1]:${w.gw.port}`;
  writeFileSync(known, text.replace(new RegExp(`^\\[127\\.0\\.0\\.1\\]:${w.gw.port} .*$`, 'm'), `${hostField} ${other}`));

  const refused = await ssh(['airlock-gateway']);
  assert.equal(refused.code, 255);
  assert.match(refused.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);

  const r = await doctor();
  assert.equal(r.code, 1);
  const f = failing(r.report).find((x) => x.check === 'gateway-host-key')!;
  assert.match(f.what, /^The gateway's host key changed: your known_hosts has SHA256:\S+, the gateway and the server now have SHA256:\S+\.$/);
  assert.match(f.fix!, /^airlock config/);

  assert.equal((await w.cli(['config'])).code, 0);
  const after = await doctor();
  assert.equal(after.report.findings.find((x) => x.check === 'gateway-host-key')!.status, 'ok');
  assert.equal((await ssh(['airlock-gateway', 'hosts', '--json'])).code, 0);
});

test('a local port in use: --port names it and the way around it', async () => {
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const port = (busy.address() as { port: number }).port;
  try {
    const r = await doctor(['--port', String(port)]);
    assert.equal(r.code, 1);
    const f = failing(r.report).find((x) => x.check === 'local-ports')!;
    assert.equal(f.what, `Local port ${port} is in use by another program.`);
    assert.match(f.fix!, /airlock tunnel TARGET SERVICE --local-port \d+/);
    // The service's usual port is taken here (the service runs on this machine): a warning, with the tunnel command.
    const usual = r.report.findings.find((x) => x.check === 'local-ports' && x.status === 'warn')!;
    assert.match(usual.what, new RegExp(`Local port ${w.web.port}, the usual one for jupyter on vm1, is in use`));
    assert.match(usual.fix!, /^airlock tunnel vm1 jupyter/);
  } finally {
    busy.close();
  }
});

test('a missing Include, then one shadowed by a Host * block: named; ssh -G shows the override; airlock config fixes both', async () => {
  const owned = join(w.home, '.ssh', 'airlock', 'config');
  writeFileSync(w.sshConfig, 'Host *\n    ServerAliveInterval 30\n');
  const unknown = await ssh(['vm1', 'true']);
  assert.equal(unknown.code, 255);
  assert.match(unknown.stderr, /Could not resolve hostname vm1/);
  let r = await doctor();
  assert.equal(r.code, 1);
  let f = failing(r.report).find((x) => x.check === 'include')!;
  assert.match(f.what, /config does not include Airlock's config/);
  assert.match(f.fix!, /^airlock config/);

  writeFileSync(w.sshConfig, `Host *\n    User mallory\n${includeLine(owned)}\n`);
  r = await doctor();
  assert.equal(r.code, 1);
  f = failing(r.report).find((x) => x.check === 'include')!;
  assert.match(f.what, /shadowed: line 1 of .*\("Host \*"\) comes before it \(line 3\)/);
  const override = failing(r.report).find((x) => x.check === 'ssh-config')!;
  assert.match(override.what, /^For (airlock-gateway|vm1), ssh uses user mallory instead of Airlock's (alice|root)\.$/);

  assert.equal((await w.cli(['config'])).code, 0);
  r = await doctor();
  assert.equal(r.code, 0, r.text);
  assert.equal((await ssh(['vm1', 'true'])).code, 0);
});
