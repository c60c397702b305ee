import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, randomBytes, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../clock.ts';
import { createStore } from '../store/kysely-store.ts';
import type { Store, User } from '../store/repositories.ts';
import { loadCaKeys, type CaKeys } from '../ca/ca-keys.ts';
import { CertificateAuthority } from '../ca/authority.ts';
import { createAuditor } from '../audit/auditor.ts';
import { enrolUser } from '../identity/local-login.ts';
import { LOW_COST_FOR_TESTS } from '../identity/password.ts';
import { KeyRegistry } from '../inventory/key-registry.ts';
import { signCertificate, type Certificate } from '../ssh/certificate.ts';
import { formatPublicKey, publicKeyFromKeyObject } from '../ssh/keys.ts';
import { signSsh } from '../ssh/signature.ts';
import { GatewayAuthenticator, limitSessionAge, loginDeadline, type AuthOutcome, type PublicKeyAttempt } from './auth.ts';

const clock = new ManualClock(Date.parse('2026-03-01T12:00:00Z'));
let dir: string;
let store: Store;
let keys: CaKeys;
let ca: CertificateAuthority;
let registry: KeyRegistry;
let alice: User;
let carol: User;

const session = randomBytes(64); // stands in for ctx.blob: session ID + request, signed by the client

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-gw-auth-'));
  store = await createStore({ url: undefined, dataDir: dir });
  keys = loadCaKeys(dir);
  const audit = createAuditor({ repository: store.audit, clock, log: null });
  ca = new CertificateAuthority({ keys, store, clock, audit, policy: { ttlMs: 86_400_000, dailyLimit: 100, allowAgentForwarding: false }, issuer: 'Airlock' });
  registry = new KeyRegistry({ store, clock, audit });
  alice = (await enrolUser(store, { name: 'alice', email: null, isAdmin: false, password: 'correct horse battery staple' }, clock, { kdfCost: LOW_COST_FOR_TESTS })).user;
  carol = (await enrolUser(store, { name: 'carol', email: null, isAdmin: false, password: 'correct horse battery staple' }, clock, { kdfCost: LOW_COST_FOR_TESTS })).user;
  await store.users.update(carol.id, { sourceCidrs: ['10.0.0.0/8'] });
  carol = (await store.users.byId(carol.id))!;
});

after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function auth(methods: ('certificate' | 'publickey')[] = ['certificate']): GatewayAuthenticator {
  return new GatewayAuthenticator({ store, clock, userCaKey: keys.user.publicKey, keys: registry, methods });
}

async function issue(user: User, type: 'ed25519' | 'ec' | 'rsa' = 'ed25519'): Promise<{ key: KeyObject; cert: Certificate }> {
  const { privateKey } = type === 'ed25519' ? generateKeyPairSync('ed25519') : type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const issued = await ca.issueUserCertificate({ user, publicKey: publicKeyFromKeyObject(privateKey), method: 'test', clientAddress: null });
  return { key: privateKey, cert: issued.certificate };
}

function attempt(cert: Certificate, signer: KeyObject | null, over: Partial<PublicKeyAttempt> = {}): PublicKeyAttempt {
  const algo = cert.certType === 'ssh-rsa-cert-v01@openssh.com' ? 'rsa-sha2-512-cert-v01@openssh.com' : cert.certType;
  return {
    username: 'alice', clientAddress: '192.0.2.7', keyAlgo: algo, keyData: cert.blob, hashAlgo: undefined,
    signature: signer ? signSsh(signer, session) : undefined, signedData: signer ? session : undefined, ...over,
  };
}

const kind = (o: AuthOutcome): string => (o.kind === 'reject' ? `reject:${o.reason}` : o.kind);

test('a certificate signed over the session by its key logs in; the identity names user, serial and expiry', async () => {
  for (const type of ['ed25519', 'ec', 'rsa'] as const) {
    const { key, cert } = await issue(alice, type);
    const o = await auth().decide(attempt(cert, key));
    assert.equal(o.kind, 'accept', `${type}: ${kind(o)} ${o.kind === 'reject' ? o.message : ''}`);
    if (o.kind !== 'accept') continue;
    assert.equal(o.identity.user.name, 'alice');
    assert.equal(o.identity.serial, cert.serial);
    assert.equal(o.identity.validBefore, Number(cert.validBefore) * 1000);
  }
});

test('a key offer without signature gets PK_OK only, never a login (checklist 6)', async () => {
  const { cert } = await issue(alice);
  const o = await auth().decide(attempt(cert, null));
  assert.equal(o.kind, 'pk_ok');
});

test('key A offered, signed with key B: refused; a signature over other data: refused', async () => {
  const { key, cert } = await issue(alice);
  const other = generateKeyPairSync('ed25519').privateKey;
  assert.equal(kind(await auth().decide(attempt(cert, other))), 'reject:bad_signature');
  const wrongData = attempt(cert, key);
  wrongData.signedData = Buffer.concat([session, Buffer.from([0])]);
  assert.equal(kind(await auth().decide(wrongData)), 'reject:bad_signature');
  // The signature's algorithm must be the certified key's.
  const { key: rsaKey, cert: rsaCert } = await issue(alice, 'rsa');
  assert.equal(kind(await auth().decide(attempt(rsaCert, rsaKey, { keyAlgo: 'rsa-sha2-256-cert-v01@openssh.com' }))), 'reject:bad_signature');
  assert.equal(kind(await auth().decide(attempt(rsaCert, rsaKey, { keyAlgo: 'ssh-rsa-cert-v01@openssh.com' }))), 'reject:unsupported_algorithm');
  assert.equal(kind(await auth().decide(attempt(cert, key, { keyAlgo: 'rsa-sha2-512-cert-v01@openssh.com' }))), 'reject:invalid_certificate');
});

test('wrong principal, expiry, another CA, a host certificate, a serial missing from the ledger: refused', async () => {
  const { key, cert } = await issue(alice);
  assert.equal(kind(await auth().decide(attempt(cert, key, { username: 'bob' }))), 'reject:invalid_certificate');
  assert.equal(kind(await auth().decide(attempt(cert, key, { username: 'carol' }))), 'reject:invalid_certificate');

  const foreignCa = generateKeyPairSync('ed25519').privateKey;
  const fields = { type: 'user' as const, publicKey: publicKeyFromKeyObject(key), serial: 424242n, keyId: 'x', principals: ['alice'], validAfter: 0n, validBefore: 0xffffffffffffffffn, criticalOptions: {}, extensions: {} };
  assert.equal(kind(await auth().decide(attempt(signCertificate(fields, foreignCa), key))), 'reject:invalid_certificate');
  // Signed by our own user CA key but never issued through the ledger (a stolen CA key, a lost ledger).
  const stray = signCertificate(fields, keys.user.privateKey);
  assert.equal(kind(await auth().decide(attempt(stray, key))), 'reject:unknown_serial');
  const hostCert = signCertificate({ ...fields, type: 'host', principals: ['alice'] }, keys.user.privateKey);
  assert.equal(kind(await auth().decide(attempt(hostCert, key))), 'reject:invalid_certificate');

  const later = new ManualClock(clock.now() + 25 * 3_600_000);
  const lateAuth = new GatewayAuthenticator({ store, clock: later, userCaKey: keys.user.publicKey, methods: ['certificate'] });
  const expired = await lateAuth.decide(attempt(cert, key));
  assert.equal(kind(expired), 'reject:invalid_certificate');
  assert.match(expired.kind === 'reject' ? expired.message : '', /expired/);
});

test('source-address is checked against the client address', async () => {
  const { key, cert } = await issue(carol);
  assert.equal(cert.criticalOptions['source-address'], '10.0.0.0/8');
  assert.equal(kind(await auth().decide(attempt(cert, key, { username: 'carol', clientAddress: '192.0.2.7' }))), 'reject:invalid_certificate');
  assert.equal(kind(await auth().decide(attempt(cert, key, { username: 'carol', clientAddress: '10.1.2.3' }))), 'accept');
});

test('revoked certificates and disabled users are refused at login and at re-check', async () => {
  const a = auth();
  const { key, cert } = await issue(alice);
  const ok = await a.decide(attempt(cert, key));
  assert.equal(ok.kind, 'accept');
  const identity = ok.kind === 'accept' ? ok.identity : undefined;
  assert.deepEqual(await a.recheck(identity!), { ok: true, user: (await store.users.byId(alice.id))! });
  await ca.revoke(cert.serial, { actor: 'test' });
  assert.equal(kind(await a.decide(attempt(cert, key))), 'reject:revoked');
  // The reason is for the key's holder only (the gateway shows it in a banner): an offer without a
  // signature gets PK_OK (never a login), and a wrong signature is just a bad signature.
  assert.equal(kind(await a.decide(attempt(cert, null))), 'pk_ok');
  const { privateKey: stranger } = generateKeyPairSync('ed25519');
  assert.equal(kind(await a.decide(attempt(cert, stranger))), 'reject:bad_signature');
  const afterRevoke = await a.recheck(identity!);
  assert.equal(afterRevoke.ok === false && afterRevoke.reason, 'revoked');

  const fresh = await issue(alice);
  const ok2 = await a.decide(attempt(fresh.cert, fresh.key));
  assert.equal(ok2.kind, 'accept');
  await store.users.setDisabled('alice', true);
  try {
    assert.equal(kind(await a.decide(attempt(fresh.cert, fresh.key))), 'reject:user_disabled');
    const r = await a.recheck(ok2.kind === 'accept' ? ok2.identity : identity!);
    assert.equal(r.ok === false && r.reason, 'user_disabled');
  } finally {
    await store.users.setDisabled('alice', false);
  }
  const lateAuth = new GatewayAuthenticator({ store, clock: new ManualClock(clock.now() + 25 * 3_600_000), userCaKey: keys.user.publicKey, methods: ['certificate'] });
  const r = await lateAuth.recheck(ok2.kind === 'accept' ? ok2.identity : identity!);
  assert.equal(r.ok === false && r.reason, 'certificate_expired');
});

test('registered public keys: off by default; when enabled, the ssh2-processed signatures of every key type verify', async () => {
  const ed = generateKeyPairSync('ed25519').privateKey;
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  for (const k of [ed, ec, rsa]) await registry.add({ id: alice.id, name: alice.name }, formatPublicKey(publicKeyFromKeyObject(k), 'k'), { name: 'alice', clientAddress: null });
  // ssh2 hands signatures over pre-processed (ssh2-signature.ts): raw for ed25519 and RSA, DER for ECDSA.
  const processed = (k: KeyObject): { sig: Buffer; hashAlgo: string | undefined; keyAlgo: string } => {
    const pk = publicKeyFromKeyObject(k);
    if (pk.type === 'ssh-ed25519') return { sig: sign(null, session, k), hashAlgo: undefined, keyAlgo: 'ssh-ed25519' };
    if (pk.type === 'ssh-rsa') return { sig: sign('sha512', session, k), hashAlgo: 'sha512', keyAlgo: 'ssh-rsa' };
    return { sig: sign('sha384', session, { key: k, dsaEncoding: 'der' }), hashAlgo: undefined, keyAlgo: pk.type };
  };
  const pkAttempt = (k: KeyObject, signer: KeyObject | null): PublicKeyAttempt => {
    const p = processed(signer ?? k);
    return { username: 'alice', clientAddress: '192.0.2.7', keyAlgo: processed(k).keyAlgo, keyData: publicKeyFromKeyObject(k).blob, hashAlgo: p.hashAlgo, signature: signer ? p.sig : undefined, signedData: signer ? session : undefined };
  };
  assert.equal(kind(await auth(['certificate']).decide(pkAttempt(ed, ed))), 'reject:method_not_enabled');
  const a = auth(['certificate', 'publickey']);
  for (const k of [ed, ec, rsa]) {
    assert.equal(kind(await a.decide(pkAttempt(k, null))), 'pk_ok');
    assert.equal(kind(await a.decide(pkAttempt(k, k))), 'accept');
  }
  const stranger = generateKeyPairSync('ed25519').privateKey;
  assert.equal(kind(await a.decide(pkAttempt(stranger, stranger))), 'reject:key_not_registered');
  assert.equal(kind(await a.decide(pkAttempt(ed, stranger))), 'reject:bad_signature');
  assert.equal(kind(await a.decide({ ...pkAttempt(rsa, rsa), hashAlgo: undefined })), 'reject:unsupported_algorithm');
  assert.equal(kind(await a.decide({ ...pkAttempt(ed, ed), username: 'nobody' })), 'reject:unknown_user');
});

test('a store failure denies (fail closed, checklist 15)', async () => {
  const { key, cert } = await issue(alice);
  const broken = await createStore({ url: 'sqlite::memory:', dataDir: dir });
  await broken.close();
  const a = new GatewayAuthenticator({ store: broken, clock, userCaKey: keys.user.publicKey, methods: ['certificate'] });
  assert.equal(kind(await a.decide(attempt(cert, key))), 'reject:internal');
  const r = await a.recheck({ user: alice, method: 'certificate', serial: cert.serial, keyId: null, fingerprint: '', validBefore: null });
  assert.equal(r.ok === false && r.reason, 'internal');
});

test('maximum session age: a login without validBefore is refused at re-check once it is older than the limit; a certificate login is not', async () => {
  const k = generateKeyPairSync('ed25519').privateKey;
  const fp = (await registry.add({ id: carol.id, name: carol.name }, formatPublicKey(publicKeyFromKeyObject(k), 'k'), { name: 'carol', clientAddress: null })).fingerprint;
  const keyLogin = limitSessionAge({ user: carol, method: 'publickey', serial: null, keyId: null, fingerprint: fp, validBefore: null }, clock.now(), 3 * 3_600_000);
  assert.equal(keyLogin.sessionEndsAt, clock.now() + 3 * 3_600_000);
  assert.equal(loginDeadline(keyLogin), keyLogin.sessionEndsAt);
  const at = (ms: number) => new GatewayAuthenticator({ store, clock: new ManualClock(clock.now() + ms), userCaKey: keys.user.publicKey, keys: registry, methods: ['publickey'] });
  assert.equal((await at(3 * 3_600_000 - 1).recheck(keyLogin)).ok, true);
  const late = await at(3 * 3_600_000).recheck(keyLogin);
  assert.equal(late.ok === false && late.reason, 'session_expired');
  assert.match(late.ok === false ? late.message : '', /maximum age/);
  // A certificate's own end governs a certificate login; the session age does not apply.
  const certLogin = limitSessionAge({ user: carol, method: 'certificate', serial: null, keyId: null, fingerprint: '', validBefore: clock.now() + 86_400_000 }, clock.now(), 3 * 3_600_000);
  assert.equal(certLogin.sessionEndsAt, null);
  assert.equal(loginDeadline(certLogin), clock.now() + 86_400_000);
});
