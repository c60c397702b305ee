import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { CertificateAuthority } from './authority.ts';
import { loadCaKeys } from './ca-keys.ts';
import { DAY_MS } from './issuance-policy.ts';
import { createStore } from '../store/kysely-store.ts';
import type { Store, User } from '../store/repositories.ts';
import { createAuditor } from '../audit/auditor.ts';
import { ManualClock } from '../clock.ts';
import { publicKeyFromKeyObject } from '../ssh/keys.ts';
import { signCertificate, verifyCertificate } from '../ssh/certificate.ts';
import { parseKrl, isRevokedInKrl } from '../ssh/krl.ts';
import { isAirlockError } from '../errors.ts';

let dir: string;
let store: Store;
let ca: CertificateAuthority;
let clock: ManualClock;
let alice: User;
let bob: User;
const krlWrites: Buffer[] = [];
const newKey = () => publicKeyFromKeyObject(generateKeyPairSync('ed25519').publicKey);

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-ca-'));
  store = await createStore({ url: 'sqlite::memory:', dataDir: dir });
  clock = new ManualClock(Date.parse('2026-11-24T10:00:00Z'));
  ca = new CertificateAuthority({
    keys: loadCaKeys(dir), store, clock, audit: createAuditor({ repository: store.audit, clock, log: null }),
    policy: { ttlMs: DAY_MS, dailyLimit: 5, allowAgentForwarding: false }, issuer: 'Test', onRevocation: (k) => krlWrites.push(k),
  });
  alice = await store.users.create({ name: 'alice', email: null, isAdmin: false, passwordHash: 'x', totpSecret: null, sourceCidrs: ['10.20.0.0/16'] }, clock.now());
  bob = await store.users.create({ name: 'bob', email: null, isAdmin: false, passwordHash: 'x', totpSecret: null }, clock.now());
});

after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

test('issues a verifiable user certificate and records it in the ledger', async () => {
  const issued = await ca.issueUserCertificate({ user: alice, publicKey: newKey(), method: 'password+totp', clientAddress: '192.0.2.7' });
  assert.ok(issued.serial > 0n && issued.serial < 2n ** 53n);
  assert.equal(issued.certificate.criticalOptions['source-address'], '10.20.0.0/16', 'the user\'s CIDR restriction is in the certificate');
  verifyCertificate(issued.certificate, { trustedCaBlobs: [ca.userCaKey.blob], now: BigInt(clock.now() / 1000), type: 'user', principal: 'alice', sourceAddress: '10.20.3.4' });
  assert.throws(() => verifyCertificate(issued.certificate, { trustedCaBlobs: [ca.userCaKey.blob], now: BigInt(clock.now() / 1000), type: 'user', principal: 'alice', sourceAddress: '192.0.2.7' }), (e) => isAirlockError(e, 'invalid_certificate'));
  const rec = await store.certificates.bySerial(issued.serial);
  assert.equal(rec?.userName, 'alice');
  assert.equal(rec?.clientAddress, '192.0.2.7');
  assert.equal(rec?.method, 'password+totp');
  const events = await store.audit.list({ type: 'cert.issue', actor: 'alice' });
  assert.equal(events.at(-1)?.details.serial, issued.serial.toString());
});

test('concurrent requests cannot pass the quota together', async () => {
  const results = await Promise.allSettled(Array.from({ length: 10 }, () => ca.issueUserCertificate({ user: bob, publicKey: newKey(), method: 'api', clientAddress: null })));
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 5);
  assert.ok(results.filter((r) => r.status === 'rejected').every((r) => isAirlockError(r.reason, 'quota_exceeded')));
  clock.advance(DAY_MS + 1000);
  await ca.issueUserCertificate({ user: bob, publicKey: newKey(), method: 'api', clientAddress: null });
});

test('revocation: owner-only, KRL rebuilt at once and read as REVOKED by ssh-keygen', async () => {
  const issued = await ca.issueUserCertificate({ user: bob, publicKey: newKey(), method: 'api', clientAddress: null });
  await assert.rejects(ca.revoke(issued.serial, { actor: 'alice', owner: alice }), (e) => isAirlockError(e, 'not_found'), 'alice cannot revoke bob\'s certificate');
  const before = await ca.krlVersion();
  const writes = krlWrites.length;
  await ca.revoke(issued.serial, { actor: 'bob', owner: bob });
  assert.equal(await ca.krlVersion(), before + 1);
  assert.equal(krlWrites.length, writes + 1, 'the KRL file is rewritten on revocation');
  const krl = await ca.krl();
  assert.ok(isRevokedInKrl(parseKrl(krl), { cert: issued.certificate }));
  writeFileSync(join(dir, 'krl'), krl);
  writeFileSync(join(dir, 'cert.pub'), issued.line + '\n');
  const q = spawnSync('ssh-keygen', ['-Q', '-f', join(dir, 'krl'), join(dir, 'cert.pub')], { encoding: 'utf8' });
  assert.equal(q.status, 1, q.stdout + q.stderr);
  // Revoking twice is harmless and does not bump the version.
  await ca.revoke(issued.serial, { actor: 'bob', owner: bob });
  assert.equal(await ca.krlVersion(), before + 1);
});

test('revoke all of a user\'s certificates', async () => {
  clock.advance(DAY_MS + 1000);
  const a = await ca.issueUserCertificate({ user: bob, publicKey: newKey(), method: 'api', clientAddress: null });
  const b = await ca.issueUserCertificate({ user: bob, publicKey: newKey(), method: 'api', clientAddress: null });
  const serials = await ca.revokeAllOfUser(bob, { actor: 'admin' });
  assert.ok(serials.includes(a.serial) && serials.includes(b.serial));
  const krl = parseKrl(await ca.krl());
  assert.ok(isRevokedInKrl(krl, { cert: a.certificate }) && isRevokedInKrl(krl, { cert: b.certificate }));
  assert.deepEqual(await ca.revokeAllOfUser(bob, { actor: 'admin' }), []);
});

test('host certificates: names checked, ssh-keygen reads a host certificate', async () => {
  await assert.rejects(ca.issueHostCertificate({ publicKey: newKey(), principals: [], ttlMs: DAY_MS, actor: null }), (e) => isAirlockError(e, 'bad_request'));
  await assert.rejects(ca.issueHostCertificate({ publicKey: newKey(), principals: ['node 1'], ttlMs: DAY_MS, actor: null }), (e) => isAirlockError(e, 'bad_request'));
  const issued = await ca.issueHostCertificate({ publicKey: newKey(), principals: ['node01', 'node01.hpc.example.org', '10.0.0.5'], ttlMs: 30 * DAY_MS, actor: 'admin' });
  writeFileSync(join(dir, 'host-cert.pub'), issued.line + '\n');
  const l = spawnSync('ssh-keygen', ['-L', '-f', join(dir, 'host-cert.pub')], { encoding: 'utf8' });
  assert.equal(l.status, 0, l.stderr);
  assert.match(l.stdout, /host certificate/);
  assert.match(l.stdout, /Principals: \n\s+node01\n\s+node01\.hpc\.example\.org\n\s+10\.0\.0\.5\n/);
  assert.match(ca.certAuthorityLine(), /^@cert-authority \* ssh-ed25519 AAAA\S+ airlock-host-ca$/);
});

test('two users whose names map to one target account get no certificate (bob@uni.example, bob_uni.example)', async () => {
  // Created directly in the store, as a race between two first sign-ins could leave them.
  const email = await store.users.create({ name: 'bob@uni.example', email: null, isAdmin: false, passwordHash: 'x', totpSecret: null }, clock.now());
  const issued = await ca.issueUserCertificate({ user: email, publicKey: newKey(), method: 'api', clientAddress: null });
  assert.deepEqual(issued.certificate.principals, ['bob@uni.example', 'bob_uni.example']);
  const local = await store.users.create({ name: 'bob_uni.example', email: null, isAdmin: false, passwordHash: 'x', totpSecret: null }, clock.now());
  for (const user of [email, local]) {
    await assert.rejects(ca.issueUserCertificate({ user, publicKey: newKey(), method: 'api', clientAddress: null }), (e) => isAirlockError(e, 'conflict') && /would both log in to targets as bob_uni\.example/.test(e.message));
  }
  assert.equal((await store.audit.list({ type: 'cert.issue', actor: 'bob_uni.example' })).at(-1)?.outcome, 'denied');
});

test('the CA refuses to certify its own keys', async () => {
  await assert.rejects(ca.issueUserCertificate({ user: alice, publicKey: ca.userCaKey, method: 'api', clientAddress: null }), (e) => isAirlockError(e, 'invalid_key'));
});

test('a session certificate for the job proxy: the login user only, the gateway\'s address, until the job ends; no quota; revocable', async () => {
  const before = (await store.certificates.issuedSince(bob.id, clock.now() - DAY_MS, 100)).length;
  const jobEnds = clock.now() + 30 * 60_000;
  const issued = await ca.issueSessionCertificate({
    user: bob, job: { id: 'j-1', name: 'job1' }, loginUser: 'ubuntu', publicKey: newKey(), jobExpiresAt: jobEnds,
    sourceAddress: '10.1.0.2', extensions: { 'permit-pty': '' }, clientAddress: '192.0.2.9',
  });
  const c = issued.certificate;
  assert.deepEqual(c.principals, ['ubuntu']);
  assert.equal(c.keyId, 'Test:job-session:bob:job1');
  assert.deepEqual(c.criticalOptions, { 'source-address': '10.1.0.2' });
  assert.equal(c.validBefore, BigInt(jobEnds / 1000));
  verifyCertificate(c, { trustedCaBlobs: [ca.userCaKey.blob], now: BigInt(clock.now() / 1000), type: 'user', principal: 'ubuntu', sourceAddress: '10.1.0.2' });
  const rec = await store.certificates.bySerial(issued.serial);
  assert.equal(rec?.method, 'job-session');
  assert.equal(rec?.userName, 'bob');
  // A job that lives on: at most SESSION_CERT_MAX_MS (4 h).
  const long = await ca.issueSessionCertificate({
    user: bob, job: { id: 'j-2', name: 'job2' }, loginUser: 'ubuntu', publicKey: newKey(), jobExpiresAt: null,
    sourceAddress: '10.1.0.2', extensions: {}, clientAddress: null,
  });
  assert.equal(long.certificate.validBefore, BigInt(Math.ceil((clock.now() + 4 * 3600_000) / 1000)));
  // Not counted against the daily quota the researcher's own certificates use… but in the ledger.
  assert.equal((await store.certificates.issuedSince(bob.id, clock.now() - DAY_MS, 100)).length, before);
  await ca.revoke(issued.serial, { actor: 'test' });
  assert.ok(isRevokedInKrl(parseKrl(await ca.krl()), { cert: c }));
  // An ended job gets none, and a login user sshd would misread is refused.
  await assert.rejects(ca.issueSessionCertificate({ user: bob, job: { id: 'j-3', name: 'job3' }, loginUser: 'ubuntu', publicKey: newKey(), jobExpiresAt: clock.now() - 1, sourceAddress: '10.1.0.2', extensions: {}, clientAddress: null }), (e) => isAirlockError(e, 'forbidden'));
  await assert.rejects(ca.issueSessionCertificate({ user: bob, job: { id: 'j-4', name: 'job4' }, loginUser: 'a,b', publicKey: newKey(), jobExpiresAt: null, sourceAddress: '10.1.0.2', extensions: {}, clientAddress: null }), (e) => isAirlockError(e, 'bad_request'));
});

test('the quota is read before signing only for a user this CA saw refused; the stored check stays exact', async () => {
  const counted = await createStore({ url: 'sqlite::memory:', dataDir: dir });
  let reads = 0;
  const issuedSince = counted.certificates.issuedSince.bind(counted.certificates);
  const spied: Store = { ...counted, certificates: { ...counted.certificates, issuedSince: (...a: Parameters<typeof issuedSince>) => { reads++; return issuedSince(...a); } }, close: () => counted.close() };
  let signatures = 0;
  const quotaCa = new CertificateAuthority({
    keys: loadCaKeys(dir), store: spied, clock, audit: createAuditor({ repository: spied.audit, clock, log: null }),
    policy: { ttlMs: DAY_MS, dailyLimit: 2, allowAgentForwarding: false }, issuer: 'Test',
    sign: (...a) => { signatures++; return signCertificate(...a); },
  });
  try {
    const erin = await spied.users.create({ name: 'erin', email: null, isAdmin: false, passwordHash: 'x', totpSecret: null }, clock.now());
    const issue = () => quotaCa.issueUserCertificate({ user: erin, publicKey: newKey(), method: 'api', clientAddress: null });
    const first = await issue();
    await issue();
    assert.equal(reads, 0, 'no pre-check for a user never refused');
    await assert.rejects(issue(), (e) => isAirlockError(e, 'quota_exceeded'));
    assert.equal(signatures, 3, 'the first refusal comes from the stored check, after signing');
    await assert.rejects(issue(), (e) => isAirlockError(e, 'quota_exceeded'));
    assert.equal(signatures, 3, 'a user known to be at the quota is refused before signing');
    assert.equal(reads, 1);
    await quotaCa.revoke(first.serial, { actor: 'erin', owner: erin });
    await issue();
    assert.equal(reads, 2, 'the pre-check found the freed slot');
    await issue().then(() => assert.fail('over the quota'), (e: unknown) => assert.ok(isAirlockError(e, 'quota_exceeded')));
    assert.equal((await spied.certificates.listByUser(erin.id)).filter((c) => c.revokedAt === null).length, 2, 'exactly the quota');
  } finally {
    await counted.close();
  }
});
