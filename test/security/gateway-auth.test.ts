/**
 * Gateway authentication against hostile and mistaken credentials (checklists 5, 6, 15), with the
 * stock OpenSSH client where it can express the attack and ssh2's client where it cannot: a key offer
 * without its private half, key A offered and signed with key B, certificates from another CA, expired,
 * revoked, for another principal, outside their source-address, of a disabled user; registered plain
 * keys only when the operator enables them; passwords never. Every refusal is audited with its reason,
 * and nothing but a real login is ever audited as a success.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import ssh2 from 'ssh2';
import type { ParsedKey } from 'ssh2';
import { run } from '../harness/processes.ts';
import { sshF, startTestGateway, writeKeyPair, writeSshConfig, type TestGateway, type UserKey } from '../harness/gateway.ts';
import { CertificateAuthority } from '../../src/ca/authority.ts';
import { ManualClock } from '../../src/clock.ts';
import { parseCertificate } from '../../src/ssh/certificate.ts';
import { parsePublicKey } from '../../src/ssh/keys.ts';
import { formatOpenSshPrivateKey } from '../../src/ssh/private-key.ts';

let gw: TestGateway;
let pkGw: TestGateway;
let alice: UserKey;

before(async () => {
  [gw, pkGw] = await Promise.all([
    startTestGateway({ AIRLOCK_GATEWAY_PENALTIES: 'off' }),
    startTestGateway({ AIRLOCK_GATEWAY_PENALTIES: 'off', AIRLOCK_GATEWAY_AUTH: 'certificate,publickey' }),
  ]);
  alice = await gw.user('alice');
});

after(async () => {
  await gw?.stop();
  await pkGw?.stop();
});

/** ssh to the lobby of `g` as `user` with the given identity lines. */
function lobby(g: TestGateway, user: string, identity: string[], name = `cfg-${Math.random().toString(36).slice(2)}`) {
  const cfg = writeSshConfig(join(g.dir, name), g.knownHosts, [{ alias: 'gw', hostName: g.host, port: g.port, user, extra: [...identity, 'IdentitiesOnly yes'] }]);
  return sshF(cfg, ['gw', 'hosts', '--json']);
}

const certIdentity = (u: { key: string; cert: string }) => [`IdentityFile ${u.key}`, `CertificateFile ${u.cert}`];

async function successes(g: TestGateway, actor: string): Promise<number> {
  return (await g.audit('gateway.auth')).filter((e) => e.actor === actor && e.outcome === 'success').length;
}

/** The last refusal for `actor` by method (OpenSSH offers the plain key after the certificate: both are refused). */
async function lastDenial(g: TestGateway, actor: string, method = 'certificate'): Promise<Record<string, unknown>> {
  const list = (await g.audit('gateway.auth')).filter((e) => e.actor === actor && e.outcome !== 'success' && e.details.method === method);
  assert.ok(list.length > 0, `no refusal audited for ${actor}`);
  return list[list.length - 1]!.details;
}

test('control: the certificate logs in', async () => {
  const r = await lobby(gw, 'alice', certIdentity(alice));
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { user: string }).user, 'alice');
  assert.equal(await successes(gw, 'alice'), 1);
});

test('a known certificate offered without its private key gets PK_OK and no session (checklist 6)', async () => {
  const dir = join(gw.dir, 'nopriv');
  mkdirSync(dir);
  copyFileSync(alice.pub, join(dir, 'key.pub'));
  copyFileSync(alice.cert, join(dir, 'key-cert.pub'));
  const before = await successes(gw, 'alice');
  const cfg = writeSshConfig(join(gw.dir, 'cfg-nopriv'), gw.knownHosts, [{ alias: 'gw', hostName: gw.host, port: gw.port, user: 'alice', extra: [`IdentityFile ${join(dir, 'key')}`, `CertificateFile ${join(dir, 'key-cert.pub')}`, 'IdentitiesOnly yes'] }]);
  const r = await sshF(cfg, ['-v', 'gw']);
  assert.equal(r.code, 255);
  assert.match(r.stderr, /Server accepts key: .*key-cert\.pub ED25519-CERT/, 'the server answered PK_OK to the offer');
  assert.match(r.stderr, /Permission denied \(publickey\)/);
  assert.equal(await successes(gw, 'alice'), before, 'no success recorded for an offer');
  assert.equal(gw.server.gateway.stats().authenticated, 0);
});

/** An ssh2 client key that presents `publicBlob` under `type` but signs with `signer`. */
function mismatchedKey(type: string, publicBlob: Buffer, signerPem: string): ParsedKey {
  const signer = ssh2.utils.parseKey(signerPem) as ParsedKey;
  const k = Object.create(signer) as ParsedKey & { type: string };
  Object.defineProperty(k, 'type', { value: type });
  Object.defineProperty(k, 'getPublicSSH', { value: () => publicBlob });
  return k;
}

const pkMethod = (username: string, key: ParsedKey): ssh2.PublicKeyAuthMethod => ({ type: 'publickey', username, key });

/** Logs in with ssh2's client; resolves 'ready' or the error message. */
function ssh2Login(g: TestGateway, username: string, auth: Partial<ssh2.ConnectConfig>): Promise<string> {
  return new Promise((resolve) => {
    const c = new ssh2.Client();
    const timer = setTimeout(() => resolve('timeout'), 10_000);
    c.on('ready', () => {
      clearTimeout(timer);
      c.end();
      resolve('ready');
    });
    c.on('error', (err) => {
      clearTimeout(timer);
      resolve(err.message);
    });
    c.connect({ host: g.host, port: g.port, username, hostVerifier: () => true, readyTimeout: 10_000, ...auth });
  });
}

test('key A offered, signed with key B: refused — for a certificate and for a registered key', async () => {
  const other = formatOpenSshPrivateKey(generateKeyPairSync('ed25519').privateKey, 'b');
  const cert = parseCertificate(readFileSync(alice.cert, 'utf8').trim());
  const before = await successes(gw, 'alice');
  const r = await ssh2Login(gw, 'alice', { authHandler: [pkMethod('alice', mismatchedKey(cert.certType, cert.blob, other))] });
  assert.notEqual(r, 'ready');
  assert.equal(await successes(gw, 'alice'), before);
  assert.equal((await lastDenial(gw, 'alice')).reason, 'bad_signature');

  // With a registered plain key the signature reaches the cryptographic check itself.
  const frank = await pkGw.user('frank');
  const pub = readFileSync(frank.pub, 'utf8').trim();
  await pkGw.server.core.keyRegistry.add({ id: (await pkGw.server.core.store.users.byName('frank'))!.id, name: 'frank' }, pub, { name: 'test', clientAddress: null });
  const blob = Buffer.from(pub.split(' ')[1]!, 'base64');
  const r2 = await ssh2Login(pkGw, 'frank', { authHandler: [pkMethod('frank', mismatchedKey('ssh-ed25519', blob, other))] });
  assert.notEqual(r2, 'ready');
  assert.equal(await successes(pkGw, 'frank'), 0);
  const d = await lastDenial(pkGw, 'frank', 'publickey');
  assert.equal(d.reason, 'bad_signature');
  assert.match(String(d.message), /not made with the offered key/);
  // Control: the same key signing for itself logs in.
  assert.equal(await ssh2Login(pkGw, 'frank', { privateKey: readFileSync(frank.key) }), 'ready');
});

test('certificates refused: another CA, expired, revoked, another principal, outside source-address, disabled user', async (t) => {
  await t.test('another CA (ssh-keygen -s)', async () => {
    const dir = join(gw.dir, 'rogue');
    mkdirSync(dir);
    writeKeyPair(join(dir, 'ca'));
    copyFileSync(alice.key, join(dir, 'key'));
    copyFileSync(alice.pub, join(dir, 'key.pub'));
    const s = await run('ssh-keygen', ['-q', '-s', join(dir, 'ca'), '-I', 'rogue', '-n', 'alice', '-V', '-5m:+1h', join(dir, 'key.pub')]);
    assert.equal(s.code, 0, s.stderr);
    const r = await lobby(gw, 'alice', certIdentity({ key: join(dir, 'key'), cert: join(dir, 'key-cert.pub') }));
    assert.equal(r.code, 255);
    const d = await lastDenial(gw, 'alice');
    assert.equal(d.reason, 'invalid_certificate');
    assert.match(String(d.message), /untrusted CA/);
  });

  await t.test('expired (issued by the real CA, 25 hours ago)', async () => {
    const core = gw.server.core;
    const past = new CertificateAuthority({ keys: core.keys, store: core.store, clock: new ManualClock(Date.now() - 25 * 3_600_000), audit: core.audit, policy: { ttlMs: 86_400_000, dailyLimit: 100, allowAgentForwarding: false }, issuer: 'Airlock' });
    const u = await gw.user('gina');
    const user = (await core.store.users.byName('gina'))!;
    const issued = await past.issueUserCertificate({ user, publicKey: parsePublicKey(readFileSync(u.pub, 'utf8').trim()), method: 'test', clientAddress: null });
    writeFileSync(u.cert, issued.line + '\n');
    const r = await lobby(gw, 'gina', certIdentity(u));
    assert.equal(r.code, 255);
    assert.match(String((await lastDenial(gw, 'gina')).message), /expired/);
  });

  await t.test('revoked', async () => {
    const u = await gw.user('hank');
    await gw.server.core.ca.revoke(u.serial, { actor: 'test' });
    const cfg = writeSshConfig(join(gw.dir, 'cfg-revoked'), gw.knownHosts, [{ alias: 'gw', hostName: gw.host, port: gw.port, user: 'hank', extra: [...certIdentity(u), 'IdentitiesOnly yes'] }]);
    // LogLevel INFO, ssh's default: the harness's ERROR would hide banners.
    const r = await sshF(cfg, ['-o', 'LogLevel=INFO', 'gw', 'hosts']);
    assert.equal(r.code, 255);
    assert.equal((await lastDenial(gw, 'hank')).reason, 'revoked');
    // The key's holder reads the cause (a banner after the signature verified), not just "Permission denied".
    assert.match(r.stderr, new RegExp(`your certificate \\(serial ${u.serial}\\) has been revoked\\. Get a new one with "airlock login"`));
  });

  await t.test("another user's name (principal not in the certificate)", async () => {
    await gw.user('ivan');
    const r = await lobby(gw, 'ivan', certIdentity(alice));
    assert.equal(r.code, 255);
    const d = await lastDenial(gw, 'ivan');
    assert.equal(d.reason, 'invalid_certificate');
    assert.match(String(d.message), /principal "ivan" is not listed/);
  });

  await t.test('source-address that does not contain the client', async () => {
    const u = await gw.user('judy', { sourceCidrs: ['10.0.0.0/8'] });
    const r = await lobby(gw, 'judy', certIdentity(u));
    assert.equal(r.code, 255);
    assert.match(String((await lastDenial(gw, 'judy')).message), /source-address/);
  });

  await t.test('a disabled user', async () => {
    const u = await gw.user('kate');
    await gw.server.core.store.users.setDisabled('kate', true);
    const r = await lobby(gw, 'kate', certIdentity(u));
    assert.equal(r.code, 255);
    assert.equal((await lastDenial(gw, 'kate')).reason, 'user_disabled');
  });
});

test('registered plain keys: refused by default; with AIRLOCK_GATEWAY_AUTH=certificate,publickey, ed25519, ECDSA and RSA keys log in', async () => {
  const dir = join(pkGw.dir, 'plain');
  mkdirSync(dir);
  await pkGw.user('leo');
  await gw.user('leo');
  for (const type of ['ed25519', 'ecdsa', 'rsa'] as const) {
    const key = writeKeyPair(join(dir, type), type);
    const line = readFileSync(`${key}.pub`, 'utf8').trim();
    for (const g of [gw, pkGw]) {
      const leo = (await g.server.core.store.users.byName('leo'))!;
      await g.server.core.keyRegistry.add({ id: leo.id, name: 'leo' }, line, { name: 'test', clientAddress: null });
    }
    const ok = await lobby(pkGw, 'leo', [`IdentityFile ${key}`]);
    assert.equal(ok.code, 0, `${type}: ${ok.stderr}`);
    assert.equal((JSON.parse(ok.stdout) as { method: string }).method, 'publickey');
    const refused = await lobby(gw, 'leo', [`IdentityFile ${key}`]);
    assert.equal(refused.code, 255, type);
    assert.equal((await lastDenial(gw, 'leo', 'publickey')).reason, 'method_not_enabled');
  }
  // An unregistered key is refused even where plain keys are enabled.
  writeKeyPair(join(dir, 'stranger'));
  const r = await lobby(pkGw, 'leo', [`IdentityFile ${join(dir, 'stranger')}`]);
  assert.equal(r.code, 255);
  assert.equal((await lastDenial(pkGw, 'leo', 'publickey')).reason, 'key_not_registered');
});

test('passwords are never accepted, and the attempt is audited', async () => {
  const r = await ssh2Login(gw, 'alice', { password: 'correct horse battery staple' });
  assert.notEqual(r, 'ready');
  const d = await lastDenial(gw, 'alice', 'password');
  assert.equal(d.reason, 'method_not_enabled');
});
