import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { verify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../clock.ts';
import { createStore } from '../store/kysely-store.ts';
import type { Store } from '../store/repositories.ts';
import { loadCaKeys } from '../ca/ca-keys.ts';
import { CertificateAuthority } from '../ca/authority.ts';
import { createAuditor } from '../audit/auditor.ts';
import { createLogger } from '../log.ts';
import { isAirlockError } from '../errors.ts';
import { parseCertificate } from '../ssh/certificate.ts';
import { run } from '../../test/harness/processes.ts';
import { loadOrCreateHostKey, type HostKey } from './host-key.ts';
import { defaultHostNames, GatewayHostCertificate, hostCertificatePath, parseHostNames } from './host-certificate.ts';

const DAY = 86_400_000;
const clock = new ManualClock(Date.parse('2026-03-01T12:00:00Z'));
let dir: string;
let store: Store;
let ca: CertificateAuthority;
let hostKey: HostKey;
const logLines: string[] = [];
const logger = createLogger((l) => logLines.push(l));

function newCa(dataDir: string, s: Store): CertificateAuthority {
  return new CertificateAuthority({ keys: loadCaKeys(dataDir), store: s, clock, audit: createAuditor({ repository: s.audit, clock, log: null }), policy: { ttlMs: DAY, dailyLimit: 100, allowAgentForwarding: false }, issuer: 'Airlock' });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-gw-hostcert-'));
  store = await createStore({ url: undefined, dataDir: dir });
  ca = newCa(dir, store);
  hostKey = loadOrCreateHostKey(dir);
});

after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

test('issues a host certificate for the gateway key and names, stored next to the key; ssh-keygen reads it', async () => {
  rmSync(hostCertificatePath(hostKey.path), { force: true });
  const hc = await GatewayHostCertificate.start({ hostKey, principals: ['gw.example.org', '127.0.0.1'], ca, clock, logger });
  try {
    const c = hc.certificate;
    assert.equal(c.type, 'host');
    assert.equal(c.certType, 'ssh-ed25519-cert-v01@openssh.com');
    assert.deepEqual(c.principals, ['gw.example.org', '127.0.0.1']);
    assert.deepEqual(c.publicKey.blob, hostKey.publicKey.blob);
    assert.deepEqual(c.signatureKey.blob, ca.hostCaKey.blob);
    assert.equal(Number(c.validBefore) * 1000 - clock.now(), 7 * DAY);
    const path = hostCertificatePath(hostKey.path);
    assert.equal(path, `${hostKey.path}-cert.pub`);
    assert.deepEqual(parseCertificate(readFileSync(path, 'utf8')).blob, c.blob);
    assert.equal(statSync(path).mode & 0o777, 0o644);
    const l = await run('ssh-keygen', ['-L', '-f', path]);
    assert.equal(l.code, 0, l.stderr);
    assert.match(l.stdout, /Type: ssh-ed25519-cert-v01@openssh.com host certificate/);
    assert.match(l.stdout, /Principals: \n\s+gw.example.org\n\s+127.0.0.1\n/);
    // The ledger knows it (revocable like any host certificate).
    assert.equal((await store.certificates.bySerial(c.serial))?.certType, 'host');
  } finally {
    hc.stop();
  }
});

test('the ssh2 host key object offers the certificate and signs as plain ssh-ed25519 with the host key', async () => {
  const hc = await GatewayHostCertificate.start({ hostKey, principals: ['gw.example.org', '127.0.0.1'], ca, clock, logger });
  try {
    const k = hc.ssh2HostKey;
    assert.equal(k.type, 'ssh-ed25519-cert-v01@openssh.com');
    assert.equal(k.signatureAlgo, 'ssh-ed25519');
    assert.deepEqual(k.getPublicSSH(), hc.certificate.blob);
    const data = Buffer.from('exchange hash');
    const sig = k.sign(data);
    assert.ok(Buffer.isBuffer(sig));
    assert.ok(verify(null, data, hostKey.privateKey, sig));
  } finally {
    hc.stop();
  }
});

test('a restart reuses the stored certificate while it is fresh; other names or another CA get a new one', async () => {
  const first = await GatewayHostCertificate.start({ hostKey, principals: ['gw.example.org', '127.0.0.1'], ca, clock, logger });
  first.stop();
  const again = await GatewayHostCertificate.start({ hostKey, principals: ['127.0.0.1', 'gw.example.org'], ca, clock, logger });
  again.stop();
  assert.equal(again.certificate.serial, first.certificate.serial, 'same names in another order: reused');
  const renamed = await GatewayHostCertificate.start({ hostKey, principals: ['gw2.example.org'], ca, clock, logger });
  renamed.stop();
  assert.notEqual(renamed.certificate.serial, first.certificate.serial);
  assert.deepEqual(renamed.certificate.principals, ['gw2.example.org']);
  // A host CA that changed (another data directory's CA): the stored certificate no longer counts.
  const otherDir = mkdtempSync(join(tmpdir(), 'airlock-gw-hostcert-other-'));
  const otherStore = await createStore({ url: undefined, dataDir: otherDir });
  try {
    const otherCa = newCa(otherDir, otherStore);
    const moved = await GatewayHostCertificate.start({ hostKey, principals: ['gw2.example.org'], ca: otherCa, clock, logger });
    moved.stop();
    assert.deepEqual(moved.certificate.signatureKey.blob, otherCa.hostCaKey.blob);
  } finally {
    await otherStore.close();
    rmSync(otherDir, { recursive: true, force: true });
  }
});

test('a damaged certificate file is replaced', async () => {
  writeFileSync(hostCertificatePath(hostKey.path), 'ssh-ed25519-cert-v01@openssh.com AAAAnot-base64 x\n');
  const hc = await GatewayHostCertificate.start({ hostKey, principals: ['gw.example.org'], ca, clock, logger });
  hc.stop();
  assert.deepEqual(parseCertificate(readFileSync(hostCertificatePath(hostKey.path), 'utf8')).blob, hc.certificate.blob);
});

test('renewal once two thirds of the lifetime have passed; the ssh2 key object serves the new certificate', async () => {
  const hc = await GatewayHostCertificate.start({ hostKey, principals: ['renew.example.org'], ca, clock, logger, ttlMs: 3 * DAY });
  try {
    const first = hc.certificate;
    assert.equal(hc.renewAt, Number(first.validAfter) * 1000 + Math.floor((Number(first.validBefore - first.validAfter) * 1000 * 2) / 3));
    assert.equal(await hc.renewIfDue(), false);
    clock.set(hc.renewAt - 1000);
    assert.equal(await hc.renewIfDue(), false);
    assert.equal(hc.certificate.serial, first.serial);
    clock.set(hc.renewAt + 1000);
    const before = logLines.length;
    assert.equal(await hc.renewIfDue(), true);
    assert.notEqual(hc.certificate.serial, first.serial);
    assert.deepEqual(hc.ssh2HostKey.getPublicSSH(), hc.certificate.blob);
    assert.ok(logLines.slice(before).some((l) => l.includes('gateway host certificate issued')));
    assert.equal(await hc.renewIfDue(), false, 'the new one is fresh');
  } finally {
    hc.stop();
    clock.set(Date.parse('2026-03-01T12:00:00Z'));
  }
});

test('when the CA cannot issue: start fails without a stored certificate; a running gateway keeps its certificate and logs', async () => {
  const d = mkdtempSync(join(tmpdir(), 'airlock-gw-hostcert-down-'));
  const s = await createStore({ url: undefined, dataDir: d });
  const key = loadOrCreateHostKey(d);
  const downCa = newCa(d, s);
  try {
    const hc = await GatewayHostCertificate.start({ hostKey: key, principals: ['down.example.org'], ca: downCa, clock, logger, ttlMs: 3 * DAY });
    hc.stop();
    const kept = hc.certificate;
    await s.close(); // the database is gone
    clock.set(hc.renewAt + 1000);
    const before = logLines.length;
    assert.equal(await hc.renewIfDue(), false);
    assert.equal(hc.certificate.serial, kept.serial);
    assert.ok(logLines.slice(before).some((l) => l.includes('renewal failed; retrying')));
    clock.set(Number(kept.validBefore) * 1000 + 1000);
    assert.equal(await hc.renewIfDue(), false);
    assert.ok(logLines.slice(before).some((l) => l.includes('expired and could not be renewed')));
    // A fresh start with an expired stored certificate and no CA: refused, not started without one.
    await assert.rejects(GatewayHostCertificate.start({ hostKey: key, principals: ['down.example.org'], ca: downCa, clock, logger, ttlMs: 3 * DAY }));
  } finally {
    clock.set(Date.parse('2026-03-01T12:00:00Z'));
    rmSync(d, { recursive: true, force: true });
  }
});

test('host names: AIRLOCK_SSH_HOST_NAMES parsing and the default', () => {
  assert.deepEqual(parseHostNames('gw.example.org, 127.0.0.1,gw.example.org'), ['gw.example.org', '127.0.0.1']);
  assert.deepEqual(parseHostNames('::1'), ['::1']);
  for (const bad of ['', ' , ', 'gw example', 'gw/example', 'a\u0000b']) {
    assert.throws(() => parseHostNames(bad), (e) => isAirlockError(e, 'config'), JSON.stringify(bad));
  }
  assert.deepEqual(defaultHostNames('127.0.0.1', undefined), ['127.0.0.1']);
  assert.deepEqual(defaultHostNames('0.0.0.0', 'gw.example.org'), ['gw.example.org']);
  assert.equal(defaultHostNames('0.0.0.0', undefined).length, 1);
});
