/**
 * The SSH engine with real clients: Debian 12's OpenSSH 9.2 and an OpenSSH 10 client (bookworm-backports,
 * unpacked into .cache/openssh10 by scripts/fetch-openssh10.sh, never installed). OpenSSH 10 negotiates
 * mlkem768x25519-sha256 with the gateway, 9.2 falls back to curve25519; with a known_hosts file holding
 * only the host CA's @cert-authority line and StrictHostKeyChecking yes, both reach a target through the
 * gateway without a prompt (gateway and target both present Airlock host certificates); a certificate
 * for another name or from another CA is refused; the plain host key still works for clients without
 * the CA line; server-sig-algs is the gateway's own list; OpenSSH 10 rekeys the hop with ML-KEM.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { airlock, ROOT } from '../harness/airlock.ts';
import { run, type RunResult } from '../harness/processes.ts';
import { startSshd, type TestSshd } from '../harness/sshd.ts';
import { startTestGateway, writeSshConfig, type TestGateway, type UserKey } from '../harness/gateway.ts';
import { formatPublicKey, publicKeyFromKeyObject, parsePublicKey } from '../../src/ssh/keys.ts';
import { SERVER_SIG_ALGS } from '../../src/gateway/ssh2-extensions.ts';

const SSH9 = 'ssh';
const SSH10 = join(ROOT, '.cache', 'openssh10', 'usr', 'bin', 'ssh');
const ssh10Missing = existsSync(SSH10) ? false : 'OpenSSH 10 client not in .cache/openssh10 (run scripts/fetch-openssh10.sh)';

let gw: TestGateway;
let node: TestSshd;
let alice: UserKey;
let caLine: string;

before(async () => {
  gw = await startTestGateway({ AIRLOCK_GATEWAY_ALLOW_LOOPBACK_TARGETS: '1', AIRLOCK_GATEWAY_PENALTIES: 'off', AIRLOCK_SSH_HOST_NAMES: '127.0.0.1,gw.test' });
  alice = await gw.user('alice');
  await gw.project('genomics', ['alice']);

  // The target: a real sshd trusting the user CA, with its own host certificate from Airlock's host CA
  // (what `airlock admin host-cert` gives an operator), for the names users reach it by.
  const nodeDir = join(gw.dir, 'node');
  const cfg = await airlock(['admin', '--data-dir', gw.dataDir, 'sshd-config', '--output-dir', nodeDir, '--account', 'root=alice'], { env: { AIRLOCK_HTTP_LISTEN: '127.0.0.1:0' } });
  assert.equal(cfg.code, 0, cfg.stderr);
  const hostKey = join(nodeDir, 'ssh_host_ed25519_key');
  const kg = await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  assert.equal(kg.code, 0, kg.stderr);
  const issued = await gw.server.core.ca.issueHostCertificate({ publicKey: parsePublicKey(readFileSync(`${hostKey}.pub`, 'utf8').trim()), principals: ['vm1', '127.0.0.1'], ttlMs: 86_400_000, actor: 'test' });
  writeFileSync(`${hostKey}-cert.pub`, issued.line + '\n');
  node = await startSshd(nodeDir, [...cfg.stdout.trim().split('\n'), `HostCertificate ${hostKey}-cert.pub`]);
  await gw.target({ name: 'vm1', project: 'genomics', host: '127.0.0.1', port: node.port, loginUser: 'root' });

  caLine = `@cert-authority * ${formatPublicKey(gw.server.core.ca.hostCaKey, 'airlock-host-ca')}`;
});

after(async () => {
  await node?.stop();
  await gw?.stop();
});

/** An ssh config for `gw` (the gateway by `gwName`) and `vm1` through it, trusting only `knownHostsText`. */
function config(label: string, knownHostsText: string, gwName = '127.0.0.1'): string {
  const name = label.replace(/[^A-Za-z0-9.-]/g, '_');
  const kh = join(gw.dir, `known_hosts.${name}`);
  writeFileSync(kh, knownHostsText + '\n');
  return writeSshConfig(join(gw.dir, `ssh_config.${name}`), kh, [
    { alias: 'gw', hostName: gwName, port: gw.port, user: 'alice', key: alice },
    { alias: 'vm1', hostName: 'vm1', port: node.port, user: 'root', key: alice, proxyJump: 'gw' },
  ]);
}

/** `ssh -v` (ProxyJump passes the verbosity on to the gateway hop) with no agent; stdin closed. */
function sshV(bin: string, cfg: string, args: string[]): Promise<RunResult> {
  return run(bin, ['-F', cfg, '-v', ...args], { env: { ...process.env, SSH_AUTH_SOCK: '' }, timeoutMs: 30_000 });
}

/** The `kex: algorithm:` lines in order: the gateway hop's first (ProxyJump connects it first). */
const kexAlgorithms = (stderr: string): string[] => [...stderr.matchAll(/kex: algorithm: (\S+)/g)].map((m) => m[1]!);

test('OpenSSH 10 negotiates mlkem768x25519-sha256 with the gateway and reaches the target, trusting only the host CA', { skip: ssh10Missing }, async () => {
  const version = await run(SSH10, ['-V']);
  assert.match(version.stderr, /^OpenSSH_10/);
  const r = await sshV(SSH10, config('ssh10', caLine), ['vm1', 'echo reached-$(id -un)']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /reached-root/);
  assert.equal(kexAlgorithms(r.stderr)[0], 'mlkem768x25519-sha256', r.stderr);
  assert.match(r.stderr, /Host '\[127\.0\.0\.1\]:\d+' is known and matches the ED25519-CERT host certificate/);
  assert.match(r.stderr, /Host '\[vm1\]:\d+' is known and matches the ED25519-CERT host certificate/);
  // OpenSSH 10.1+ warns about a non-post-quantum key exchange; nothing of the kind may appear.
  assert.doesNotMatch(r.stderr, /post-quantum/i);
  assert.doesNotMatch(r.stderr, /Are you sure you want to continue connecting|Host key verification failed/);
});

test('Debian 12\'s OpenSSH 9.2 falls back to curve25519 and reaches the target, trusting only the host CA', async () => {
  const r = await sshV(SSH9, config('ssh9', caLine), ['vm1', 'echo reached-$(id -un)']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /reached-root/);
  assert.equal(kexAlgorithms(r.stderr)[0], 'curve25519-sha256', r.stderr);
  assert.match(r.stderr, /Host '\[127\.0\.0\.1\]:\d+' is known and matches the ED25519-CERT host certificate/);
  assert.match(r.stderr, /Host '\[vm1\]:\d+' is known and matches the ED25519-CERT host certificate/);
});

for (const [label, bin, skip] of [['OpenSSH 10', SSH10, ssh10Missing], ['OpenSSH 9.2', SSH9, false]] as const) {
  test(`${label} refuses the gateway's certificate for a name it does not list`, { skip }, async () => {
    // `localhost` is not among AIRLOCK_SSH_HOST_NAMES (127.0.0.1, gw.test).
    const r = await sshV(bin, config(`name-${label}`, caLine, 'localhost'), ['gw', 'hosts']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Certificate invalid: name is not a listed principal/);
    assert.match(r.stderr, /Host key verification failed/);
  });

  test(`${label} refuses a gateway certificate from another CA`, { skip }, async () => {
    const other = publicKeyFromKeyObject(generateKeyPairSync('ed25519').publicKey);
    const r = await sshV(bin, config(`ca-${label}`, `@cert-authority * ${formatPublicKey(other, 'other-ca')}`), ['gw', 'hosts']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Host key verification failed/);
  });

  test(`${label} still accepts the plain host key without the CA line, and reads the gateway's server-sig-algs`, { skip }, async () => {
    const cfg = config(`plain-${label}`, gw.server.gateway.trust().knownHostsLine!);
    // Knowing an Ed25519 key, OpenSSH asks for the certificate first, finds no CA and checks its key.
    const r = await sshV(bin, cfg, ['gw', 'hosts']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /No matching CA found. Retry with plain key/);
    assert.match(r.stderr, /Host '\[127\.0\.0\.1\]:\d+' is known and matches the ED25519 host key/);
    // A client that does not take certificates at all gets the plain key.
    const plain = await sshV(bin, cfg, ['-o', 'HostKeyAlgorithms=ssh-ed25519', 'gw', 'hosts']);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stderr, /kex: host key algorithm: ssh-ed25519\r?\n/);
    assert.match(plain.stderr, /Host '\[127\.0\.0\.1\]:\d+' is known and matches the ED25519 host key/);
    const sigAlgs = /server-sig-algs=<([^>]*)>/.exec(r.stderr);
    assert.ok(sigAlgs, 'the client logged server-sig-algs');
    assert.deepEqual(sigAlgs[1]!.split(','), [...SERVER_SIG_ALGS]);
  });
}

test('OpenSSH 10 rekeys the gateway hop with mlkem768x25519-sha256 during a transfer; the data arrive intact', { skip: ssh10Missing }, async () => {
  const hopLog = join(gw.dir, 'ssh10-rekey-hop.log');
  const kh = join(gw.dir, 'known_hosts.ssh10-rekey');
  writeFileSync(kh, caLine + '\n');
  const cfgPath = join(gw.dir, 'ssh_config.ssh10-rekey');
  writeSshConfig(cfgPath, kh, [
    // The client starts a re-exchange every MiB; the gateway hop's log goes to a file of its own.
    { alias: 'gw', hostName: '127.0.0.1', port: gw.port, user: 'alice', key: alice, extra: ['RekeyLimit 1M'] },
    { alias: 'vm1', hostName: 'vm1', port: node.port, user: 'root', key: alice, extra: [`ProxyCommand ${SSH10} -F ${cfgPath} -v -E ${hopLog} -W %h:%p gw`] },
  ]);
  const data = randomBytes(6 * 1024 * 1024).toString('base64'); // 8 MiB of text
  const r = await run(SSH10, ['-F', cfgPath, 'vm1', 'sha256sum'], { input: data, env: { ...process.env, SSH_AUTH_SOCK: '' }, timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.split(' ')[0], createHash('sha256').update(data).digest('hex'));
  const kex = kexAlgorithms(readFileSync(hopLog, 'utf8'));
  assert.ok(kex.length >= 5, `${kex.length} key exchanges on the gateway hop`);
  assert.ok(kex.every((k) => k === 'mlkem768x25519-sha256'), kex.join(', '));
});
