/**
 * Certificate critical options and extensions at the gateway (issue 10 item 4, checklist 5), per
 * OpenSSH PROTOCOL.certkeys: certificates crafted with ssh-keygen, signed by the gateway's own user CA
 * and entered in the ledger (so only the option under test differs), presented by the stock OpenSSH
 * client. A `force-command` certificate is refused at login (a jump host cannot honour it: ProxyJump
 * would bypass it); a certificate without `permit-port-forwarding` gets the lobby but no direct-tcpip
 * channel; unknown critical options (`verify-required`, a vendor option) are refused; an unknown
 * extension such as `no-touch-required` is not critical and does not matter. Each refusal is audited.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, waitFor } from '../harness/processes.ts';
import { sshF, startHttpService, startTestGateway, writeSshConfig, type TestGateway, type UserKey } from '../harness/gateway.ts';
import { parseCertificate } from '../../src/ssh/certificate.ts';
import { fingerprintSha256 } from '../../src/ssh/fingerprint.ts';
import { formatOpenSshPrivateKey } from '../../src/ssh/private-key.ts';

let gw: TestGateway;
let web: Awaited<ReturnType<typeof startHttpService>>;
let caFile: string;
let nextSerial = 7_000_000n;

before(async () => {
  web = await startHttpService('127.0.0.1');
  gw = await startTestGateway({ AIRLOCK_GATEWAY_PENALTIES: 'off', AIRLOCK_GATEWAY_ALLOW_LOOPBACK_TARGETS: '1' });
  caFile = join(gw.dir, 'user-ca');
  writeFileSync(caFile, formatOpenSshPrivateKey(gw.server.core.keys.user.privateKey, 'test-user-ca'), { mode: 0o600 });
});

after(async () => {
  await gw?.stop();
  await web?.stop();
});

/**
 * A new user in a project with target vm1, holding a certificate that ssh-keygen signed with the
 * gateway's user CA and `options` (ssh-keygen -O …), recorded in the ledger like an issued one.
 */
async function crafted(name: string, options: string[]): Promise<{ u: UserKey; cfg: string }> {
  const u = await gw.user(name);
  await gw.project(`p-${name}`, [name]);
  await gw.target({ name: `vm-${name}`, project: `p-${name}`, host: '127.0.0.1', port: web.port });
  const dir = join(gw.dir, `crafted-${name}`);
  mkdirSync(dir);
  const key = join(dir, 'key');
  copyFileSync(u.key, key);
  copyFileSync(u.pub, `${key}.pub`);
  const serial = nextSerial++;
  const s = await run('ssh-keygen', ['-q', '-s', caFile, '-I', `airlock:${name}`, '-n', name, '-V', '-5m:+1h', '-z', String(serial), ...options.flatMap((o) => ['-O', o]), `${key}.pub`]);
  assert.equal(s.code, 0, s.stderr);
  const cert = parseCertificate(readFileSync(`${key}-cert.pub`, 'utf8').trim());
  const user = (await gw.server.core.store.users.byName(name))!;
  const now = Date.now();
  await gw.server.core.store.certificates.insert({
    serial, userId: user.id, userName: name, keyId: cert.keyId, certType: 'user', principals: cert.principals,
    publicKey: readFileSync(u.pub, 'utf8').trim(), fingerprint: fingerprintSha256(cert.publicKey.blob),
    validAfter: Number(cert.validAfter) * 1000, validBefore: Number(cert.validBefore) * 1000, method: 'test', clientAddress: null,
    issuedAt: now, revokedAt: null, revokeReason: null,
  });
  const cfg = writeSshConfig(join(gw.dir, `cfg-${name}`), gw.knownHosts, [
    { alias: 'gw', hostName: gw.host, port: gw.port, user: name, extra: [`IdentityFile ${key}`, `CertificateFile ${key}-cert.pub`, 'IdentitiesOnly yes'] },
  ]);
  return { u: { ...u, key, pub: `${key}.pub`, cert: `${key}-cert.pub`, serial }, cfg };
}

/** `ssh -W vm-NAME:PORT gw` with an HTTP request as input. */
function forward(cfg: string, name: string) {
  return sshF(cfg, ['-o', 'LogLevel=INFO', '-W', `vm-${name}:${web.port}`, 'gw'], { input: 'GET /through HTTP/1.0\r\n\r\n', timeoutMs: 15_000 });
}

async function lastDenial(actor: string): Promise<Record<string, unknown>> {
  const list = (await gw.audit('gateway.auth')).filter((e) => e.actor === actor && e.outcome !== 'success' && e.details.method === 'certificate');
  assert.ok(list.length > 0, `no refusal audited for ${actor}`);
  return list[list.length - 1]!.details;
}

test('control: a crafted certificate with the standard extensions logs in and forwards', async () => {
  const { cfg } = await crafted('ctrl', ['clear', 'permit-pty', 'permit-port-forwarding']);
  const r = await forward(cfg, 'ctrl');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /hello from the service \/through/);
});

test('without permit-port-forwarding: the lobby opens, but every direct-tcpip channel is refused with the reason, and audited', async () => {
  const { cfg } = await crafted('nofwd', ['clear', 'permit-pty']);
  const lobby = await sshF(cfg, ['gw', 'hosts', '--json']);
  assert.equal(lobby.code, 0, lobby.stderr);
  const r = await forward(cfg, 'nofwd');
  assert.notEqual(r.code, 0);
  assert.doesNotMatch(r.stdout, /hello from the service/);
  assert.match(r.stderr, /administratively prohibited: Your certificate does not permit port forwarding/);
  const e = await waitFor('the channel refusal', async () => (await gw.audit('gateway.channel')).find((x) => x.actor === 'nofwd' && x.outcome === 'denied'), 5000);
  assert.equal(e.details.reason, 'no_port_forwarding');
  // ProxyJump uses the same direct-tcpip channel: refused the same way (the -J hop logs at the
  // config's LogLevel ERROR, so the reason is read from the audit log).
  const j = await sshF(cfg, ['-J', 'gw', '-p', String(web.port), `nofwd@vm-nofwd`, 'true'], { timeoutMs: 15_000 });
  assert.notEqual(j.code, 0);
  await waitFor('the ProxyJump refusal', async () => (await gw.audit('gateway.channel')).filter((x) => x.actor === 'nofwd' && x.details.reason === 'no_port_forwarding').length === 2 || undefined, 5000);
  assert.equal((await gw.audit('gateway.channel')).filter((x) => x.actor === 'nofwd' && x.outcome === 'success' && x.details.channel === 'direct-tcpip').length, 0);
});

test('force-command: refused at login (a jump host cannot honour it), audited with reason force_command', async () => {
  const { cfg } = await crafted('forced', ['force-command=/usr/bin/true']);
  const r = await sshF(cfg, ['gw', 'hosts', '--json']);
  assert.equal(r.code, 255);
  assert.match(r.stderr, /Permission denied \(publickey\)/);
  const f = await forward(cfg, 'forced');
  assert.notEqual(f.code, 0);
  assert.doesNotMatch(f.stdout, /hello from the service/);
  const d = await lastDenial('forced');
  assert.equal(d.reason, 'force_command');
  assert.match(String(d.message), /force-command/);
  assert.equal((await gw.audit('gateway.auth')).filter((e) => e.actor === 'forced' && e.outcome === 'success').length, 0);
});

test('unknown critical options are refused: verify-required and a vendor option', async () => {
  for (const [name, option, shown] of [['verify', 'verify-required', 'verify-required'], ['vendor', 'critical:restrict@example.com=yes', 'restrict@example.com']] as const) {
    const { cfg } = await crafted(name, [option]);
    const r = await sshF(cfg, ['gw', 'hosts', '--json']);
    assert.equal(r.code, 255, name);
    const d = await lastDenial(name);
    assert.equal(d.reason, 'invalid_certificate');
    assert.match(String(d.message), new RegExp(`unknown critical option "${shown}"`));
  }
});

test('an unknown extension (no-touch-required) is not critical: the certificate logs in', async () => {
  const { cfg } = await crafted('notouch', ['no-touch-required']);
  const r = await sshF(cfg, ['gw', 'hosts', '--json']);
  assert.equal(r.code, 0, r.stderr);
});
