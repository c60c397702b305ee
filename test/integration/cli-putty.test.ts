/**
 * Windows and PuTTY, checked with PuTTY's own tools from Debian's putty-tools (0.78): the PPK that
 * `airlock putty` writes is read by puttygen; plink signs in to the gateway with the PPK and the
 * OpenSSH certificate (`-cert`); the saved sessions it writes take plink to a target through the
 * gateway as an SSH proxy, trusting the host CA, with no prompt; and a plink -L tunnel reaches the
 * Jupyter-like service.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { freePort, run, startProcess, stopProcess, waitFor } from '../harness/processes.ts';
import { runDetached, startSignedInCliWorld, SERVICE_TOKEN, type CliWorld } from './cli-fixture.ts';

const PLINK = spawnSync('plink', ['-V'], { encoding: 'utf8' });
const skip = PLINK.error ? 'plink is not installed (apt-get install putty-tools)' : false;

let w: CliWorld;
interface Files { ppk: string; certificate: string; instructions: string; registry: string; unix_files: string[] }
let files: Files;
let fingerprint: string;

before(async () => {
  if (skip) return;
  w = await startSignedInCliWorld();
  const r = await w.cli(['putty', '--unix-sessions', '--json']);
  assert.equal(r.code, 0, r.stderr);
  files = JSON.parse(r.stdout) as Files;
  fingerprint = ((await (await fetch(`${w.gw.server.httpUrl}/api/v1/gateway`)).json()) as { fingerprint: string }).fingerprint;
});

after(async () => {
  await w?.stop();
});

const plink = (args: string[]) => run('plink', ['-batch', ...args], { env: w.env(), timeoutMs: 30_000 });
const gatewayArgs = () => ['-i', files.ppk, '-cert', files.certificate, '-hostkey', fingerprint, '-P', String(w.gw.port), 'alice@127.0.0.1'];

test('the files: PPK and certificate 0600; puttygen reads the PPK as the same key', { skip }, async () => {
  for (const f of [files.ppk, files.certificate, files.instructions, files.registry]) assert.equal(statSync(f).mode & 0o777, 0o600, f);
  const pub = await run('puttygen', [files.ppk, '-O', 'public-openssh']);
  assert.equal(pub.code, 0, pub.stderr);
  const ours = readFileSync(join(w.home, '.ssh', 'airlock-key.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
  assert.equal(pub.stdout.split(' ').slice(0, 2).join(' '), ours);
  assert.equal(readFileSync(files.certificate, 'utf8'), readFileSync(join(w.home, '.ssh', 'airlock-key-cert.pub'), 'utf8'));
  const reg = readFileSync(files.registry, 'utf8');
  assert.match(reg, /^Windows Registry Editor Version 5\.00\r\n/);
  assert.match(reg, /\[HKEY_CURRENT_USER\\Software\\SimonTatham\\PuTTY\\Sessions\\vm1\]\r\n/);
  assert.match(reg, /\[HKEY_CURRENT_USER\\Software\\SimonTatham\\PuTTY\\SshHostCAs\\airlock\]\r\n/);
});

test('plink signs in to the gateway with the PPK and the OpenSSH certificate (-cert) and reads the lobby', { skip }, async () => {
  const r = await plink([...gatewayArgs(), 'hosts', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const lobby = JSON.parse(r.stdout) as { user: string; method: string; targets: { name: string }[] };
  assert.equal(lobby.user, 'alice');
  assert.equal(lobby.method, 'certificate');
  assert.deepEqual(lobby.targets.map((t) => t.name), ['vm1']);
  // Without the certificate, the key alone is refused: the certificate is what signs plink in.
  const keyOnly = await plink(['-i', files.ppk, '-hostkey', fingerprint, '-P', String(w.gw.port), 'alice@127.0.0.1', 'hosts']);
  assert.notEqual(keyOnly.code, 0);
});

test('the saved sessions take plink to vm1 through the gateway (SSH proxy), trusting the host CA: no prompt', { skip }, async () => {
  assert.ok(files.unix_files.some((f) => f.endsWith(join('.putty', 'sessions', 'vm1'))));
  const r = await plink(['-load', 'vm1', 'echo via-putty-$(id -un)']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'via-putty-root');
  // And the plink command of the instructions (a -proxycmd jump) works as printed, but for the host key.
  const guide = readFileSync(files.instructions, 'utf8');
  assert.match(guide, /plink -proxycmd "plink -batch -i \S+ -cert \S+ -hostkey SHA256:\S+ -P \d+ alice@127\.0\.0\.1 -nc %host:%port"/);
});

test('a plink -L tunnel through the gateway reaches the service (the command the instructions print)', { skip }, async () => {
  const guide = readFileSync(files.instructions, 'utf8');
  const printed = new RegExp(`plink -N -L 127\\.0\\.0\\.1:${w.web.port}:vm1:${w.web.port} -i `);
  assert.match(guide, printed);
  // The service itself listens on this machine's port of the same number, so the test uses another local port.
  const local = await freePort();
  const t = startProcess('plink', ['-batch', '-N', '-L', `127.0.0.1:${local}:vm1:${w.web.port}`, ...gatewayArgs()], { env: w.env() });
  try {
    const body = await waitFor('the plink tunnel', async () => {
      const r = await run('curl', ['-s', '--max-time', '5', `http://127.0.0.1:${local}/lab?token=${SERVICE_TOKEN}`]);
      return r.code === 0 && r.stdout ? r.stdout : undefined;
    }, 30_000, 200);
    assert.equal(body, `hello from jupyter /lab?token=${SERVICE_TOKEN}`);
  } finally {
    await stopProcess(t.child);
  }
  const tunnels = readFileSync(join(w.home, '.putty', 'sessions', 'airlock-tunnels'), 'utf8');
  assert.match(tunnels, new RegExp(`^PortForwardings=L127\\.0\\.0\\.1:\\d+=vm1:${w.idlePort},L127\\.0\\.0\\.1:\\d+=vm1:${w.web.port}$`, 'm'));
});

test('the lobby seen from plink: PuTTY settings and a plink -proxycmd command that works as printed; targets out of reach are marked', { skip }, async () => {
  await w.gw.target({ name: 'job-far', project: 'genomics', host: '127.0.0.1', port: w.node.port, loginUser: 'root', allowedCidrs: ['10.9.0.0/16'] });
  const r = await plink([...gatewayArgs(), 'hosts']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /You are using PuTTY/);
  assert.match(r.stdout, /^job-far .*\n {2}NOT REACHABLE from here: Target job-far cannot be reached from your address 127\.0\.0\.1\. /m);
  assert.doesNotMatch(r.stdout, /^vm1 .*\n {2}NOT REACHABLE/m);
  const printed = new RegExp(`^ {2}(plink -proxycmd "plink -batch -P ${w.gw.port} alice@127\\.0\\.0\\.1 -nc %host:%port" -P ${w.node.port} root@vm1)$`, 'm').exec(r.stdout);
  assert.ok(printed, r.stdout);
  // Run it as printed, with the credentials the lobby says to add (-i, -cert; -hostkey pins the gateway here
  // because this HOME has no PuTTY host key cache).
  const creds = `-i ${files.ppk} -cert ${files.certificate}`;
  const command = printed[1]!
    .replace('plink -batch ', `plink -batch ${creds} -hostkey ${fingerprint} `)
    .replace(/^plink /, `plink -batch ${creds} `);
  const jumped = await run('sh', ['-c', `${command} 'echo via-plink-proxycmd'`], { env: w.env(), timeoutMs: 30_000 });
  assert.equal(jumped.code, 0, jumped.stderr);
  assert.equal(jumped.stdout.trim(), 'via-plink-proxycmd');
  // The ssh client gets no PuTTY lines.
  const viaSsh = await runDetached('ssh', ['-F', w.sshConfig, 'airlock-gateway', 'hosts'], w.env());
  assert.equal(viaSsh.code, 0, viaSsh.stderr);
  assert.doesNotMatch(viaSsh.stdout, /plink|PuTTY:/);
  assert.match(viaSsh.stdout, /^job-far .*\n {2}NOT REACHABLE/m);
});
