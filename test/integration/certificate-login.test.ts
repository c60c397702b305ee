/**
 * The certificate service end to end, nothing mocked: a user is created with `airlock admin`, signs in
 * with `airlock login` (password + a TOTP code computed here), and the resulting key and certificate log
 * in to a real sshd configured only from `airlock admin sshd-config`; then quota, revocation through the
 * KRL, and expiry.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync, createPublicKey } from 'node:crypto';
import { startAirlock, airlock, type RunningAirlock } from '../harness/airlock.ts';
import { startSshd, type TestSshd } from '../harness/sshd.ts';
import { ssh } from '../harness/ssh-client.ts';
import { run } from '../harness/processes.ts';
import { currentTotp } from '../../src/identity/totp.ts';
import { loadConfig } from '../../src/config.ts';
import { openCore } from '../../src/server.ts';
import { ManualClock } from '../../src/clock.ts';
import { publicKeyFromKeyObject } from '../../src/ssh/keys.ts';
import { formatOpenSshPrivateKey } from '../../src/ssh/private-key.ts';

const PASSWORD = 'correct horse battery staple';
let dir: string;
let server: RunningAirlock;
let node: TestSshd;
let home: string;
let knownHosts: string;
let totpSecret: string;

const secretOf = (uri: string): string => new URL(uri).searchParams.get('secret')!;
const env = () => ({ HOME: home, XDG_CONFIG_HOME: join(home, '.config') });

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-it-cert-'));
  home = join(dir, 'home');
  server = await startAirlock(join(dir, 'data'));
  const add = await server.admin(['user', 'add', 'alice', '--email', 'alice@example.org', '--password-stdin', '--json'], { input: PASSWORD + '\n' });
  assert.equal(add.code, 0, add.stderr);
  const enrolment = JSON.parse(add.stdout) as { name: string; totp_uri: string; recovery_codes: string[] };
  assert.equal(enrolment.name, 'alice');
  assert.match(enrolment.totp_uri, /^otpauth:\/\/totp\//);
  assert.ok(enrolment.recovery_codes.length >= 8);
  totpSecret = secretOf(enrolment.totp_uri);

  // The compute node: configured only from what `airlock admin sshd-config` prints. sshd runs logins as
  // root here, so the operator maps root to alice's principal.
  const nodeDir = join(dir, 'node');
  const cfg = await server.admin(['sshd-config', '--output-dir', nodeDir, '--account', 'root=alice']);
  assert.equal(cfg.code, 0, cfg.stderr);
  const lines = cfg.stdout.trim().split('\n');
  assert.ok(lines.some((l) => l.startsWith('TrustedUserCAKeys ')));
  assert.ok(lines.some((l) => l.startsWith('RevokedKeys ')));
  node = await startSshd(nodeDir, lines);
  knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, node.knownHostsLine + '\n');
});

after(async () => {
  await node?.stop();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const loginToNode = (key: string, cert: string) =>
  ssh(['-i', key, '-o', `CertificateFile=${cert}`, '-o', 'IdentitiesOnly=yes', '-p', String(node.port), 'root@127.0.0.1', 'echo logged-in-as-$(id -un)'], { knownHosts });

test('login, certificate, real sshd, quota, revocation', async (t) => {
  const login = await airlock(['login', '--server', server.httpUrl, '--user', 'alice', '--password-stdin', '--otp', currentTotp(totpSecret, Date.now()), '--json'], { input: PASSWORD + '\n', env: env() });
  assert.equal(login.code, 0, login.stderr);
  const result = JSON.parse(login.stdout) as { key_path: string; certificate_path: string; serial: string; valid_before: string };
  assert.equal(result.key_path, join(home, '.ssh', 'airlock-key'));
  assert.equal(result.certificate_path, join(home, '.ssh', 'airlock-key-cert.pub'));
  assert.equal(statSync(result.key_path).mode & 0o777, 0o600);
  assert.equal(statSync(result.certificate_path).mode & 0o777, 0o600);
  assert.doesNotMatch(login.stderr + login.stdout, new RegExp(PASSWORD));

  await t.test('ssh-keygen -L shows principals, 24 h validity and the default extensions', async () => {
    const l = await run('ssh-keygen', ['-L', '-f', result.certificate_path]);
    assert.equal(l.code, 0, l.stderr);
    assert.match(l.stdout, /Type: ssh-ed25519-cert-v01@openssh.com user certificate/);
    assert.match(l.stdout, new RegExp(`Serial: ${result.serial}\\b`));
    assert.match(l.stdout, /Principals: \n\s+alice\n/);
    assert.match(l.stdout, /Critical Options: \(none\)/);
    assert.match(l.stdout, /Extensions: \n\s+permit-port-forwarding\n\s+permit-pty\n/);
    assert.doesNotMatch(l.stdout, /permit-agent-forwarding|permit-X11/);
    const m = /Valid: from (\S+) to (\S+)/.exec(l.stdout)!;
    const hours = (Date.parse(m[2]!) - Date.parse(m[1]!)) / 3_600_000;
    assert.ok(hours > 24 && hours <= 24.02, `validity ${hours} h`); // 24 h plus the one-minute back-dating
  });

  await t.test('airlock status reports the certificate', async () => {
    const st = await airlock(['status', '--json'], { env: env() });
    assert.equal(st.code, 0, st.stderr);
    const s = JSON.parse(st.stdout) as { key_path: string; certificate_path: string; serial: string; valid_before: string; problems: string[] };
    assert.equal(s.serial, result.serial);
    assert.deepEqual(s.problems, []);
    assert.equal(s.key_path, result.key_path);
  });

  await t.test('the real sshd accepts the key and certificate', async () => {
    const r = await loginToNode(result.key_path, result.certificate_path);
    assert.equal(r.code, 0, r.stderr + node.logs());
    assert.match(r.stdout, /logged-in-as-root/);
  });

  await t.test('the sixth certificate within 24 hours is refused with the time of the next', async () => {
    const session = JSON.parse(readFileSync(join(home, '.config', 'airlock', 'session.json'), 'utf8')) as { token: string };
    const request = async () => {
      const { publicKey } = generateKeyPairSync('ed25519');
      const pub = publicKeyFromKeyObject(publicKey);
      const res = await fetch(`${server.httpUrl}/api/v1/certificates`, {
        method: 'POST',
        headers: { authorization: `Bearer ${session.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ public_key: `${pub.type} ${pub.blob.toString('base64')}` }),
      });
      return { status: res.status, body: (await res.json()) as { error?: { code: string; message: string; details?: { next_possible_at: string } } } };
    };
    for (let i = 2; i <= 5; i++) assert.equal((await request()).status, 201, `certificate ${i}`);
    const sixth = await request();
    assert.equal(sixth.status, 429);
    assert.equal(sixth.body.error?.code, 'quota_exceeded');
    const next = Date.parse(sixth.body.error.details!.next_possible_at);
    assert.ok(Math.abs(next - (Date.now() + 86_400_000)) < 120_000, 'next slot is 24 h after the first certificate');
    assert.match(sixth.body.error.message, /next one can be issued at \d{4}-\d\d-\d\dT/);
  });

  await t.test('certs list shows the ledger', async () => {
    const l = await airlock(['certs', 'list', '--json'], { env: env() });
    assert.equal(l.code, 0, l.stderr);
    const list = JSON.parse(l.stdout) as { serial: string; status: string; method: string }[];
    assert.equal(list.length, 5);
    assert.ok(list.every((c) => c.status === 'valid' && c.method === 'password+totp'));
  });

  await t.test('after revocation the KRL says REVOKED and sshd refuses the login', async () => {
    const dry = await airlock(['certs', 'revoke', result.serial, '--dry-run'], { env: env() });
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal((await loginToNode(result.key_path, result.certificate_path)).code, 0, 'dry run changed nothing');
    const rev = await airlock(['certs', 'revoke', result.serial], { env: env() });
    assert.equal(rev.code, 0, rev.stderr);
    // What a node's timer does: fetch the KRL and replace the file sshd reads.
    const res = await fetch(`${server.httpUrl}/api/v1/krl`);
    assert.equal(res.status, 200);
    const krlPath = join(dir, 'node', 'airlock_revoked.krl');
    writeFileSync(krlPath, Buffer.from(await res.arrayBuffer()));
    const q = await run('ssh-keygen', ['-Q', '-f', krlPath, result.certificate_path]);
    assert.equal(q.code, 1);
    assert.match(q.stdout, /REVOKED/);
    const r = await loginToNode(result.key_path, result.certificate_path);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /Permission denied/);
    const l = await airlock(['certs', 'list', '--json'], { env: env() });
    const list = JSON.parse(l.stdout) as { serial: string; status: string }[];
    assert.equal(list.find((c) => c.serial === result.serial)?.status, 'revoked');
  });
});

test('a certificate past its validity is refused by sshd (issued under an injected clock)', async () => {
  const add = await server.admin(['user', 'add', 'bob', '--password-stdin', '--json', '--principal', 'alice'], { input: PASSWORD + '\n' });
  assert.equal(add.code, 0, add.stderr);
  // The CA with its clock 25 hours back: the certificate it issues expired an hour ago.
  const core = await openCore(loadConfig({ env: {}, flags: { data_dir: server.dataDir } }), { clock: new ManualClock(Date.now() - 25 * 3_600_000), log: null });
  const keyDir = join(dir, 'expired');
  try {
    const bob = (await core.store.users.byName('bob'))!;
    const { privateKey } = generateKeyPairSync('ed25519');
    const issued = await core.ca.issueUserCertificate({ user: bob, publicKey: publicKeyFromKeyObject(createPublicKey(privateKey)), method: 'admin', clientAddress: null });
    rmSync(keyDir, { recursive: true, force: true });
    mkdirSync(keyDir, { mode: 0o700 });
    writeFileSync(join(keyDir, 'key'), formatOpenSshPrivateKey(privateKey, 'bob'), { mode: 0o600 });
    writeFileSync(join(keyDir, 'key-cert.pub'), issued.line + '\n');
  } finally {
    await core.close();
  }
  const r = await loginToNode(join(keyDir, 'key'), join(keyDir, 'key-cert.pub'));
  assert.equal(r.code, 255);
  assert.match(r.stderr, /Permission denied/);
  assert.match(node.logs(), /expired|not yet valid|Certificate invalid/i);
});

test('a CIDR restriction becomes source-address, and sshd enforces it', async () => {
  const add = await server.admin(['user', 'add', 'carol', '--password-stdin', '--json', '--principal', 'alice', '--source-cidr', '10.0.0.0/8'], { input: PASSWORD + '\n' });
  assert.equal(add.code, 0, add.stderr);
  const secret = secretOf((JSON.parse(add.stdout) as { totp_uri: string }).totp_uri);
  const carolHome = join(dir, 'carol');
  const carolEnv = { HOME: carolHome, XDG_CONFIG_HOME: join(carolHome, '.config') };
  const login = await airlock(['login', '--server', server.httpUrl, '--user', 'carol', '--password-stdin', '--otp', currentTotp(secret, Date.now())], { input: PASSWORD + '\n', env: carolEnv });
  assert.equal(login.code, 0, login.stderr);
  const cert = join(carolHome, '.ssh', 'airlock-key-cert.pub');
  const l = await run('ssh-keygen', ['-L', '-f', cert]);
  assert.match(l.stdout, /Critical Options: \n\s+source-address 10\.0\.0\.0\/8\n/);
  const r = await loginToNode(join(carolHome, '.ssh', 'airlock-key'), cert);
  assert.equal(r.code, 255, 'a login from 127.0.0.1 is outside 10.0.0.0/8');
  assert.match(r.stderr, /Permission denied/);
});
