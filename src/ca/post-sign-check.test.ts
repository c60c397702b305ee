import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CertificateAuthority, type CertificateSigner } from './authority.ts';
import { loadCaKeys, type CaKeys } from './ca-keys.ts';
import { DAY_MS } from './issuance-policy.ts';
import { CHECKED_FIELDS, assertIssuedAsPlanned, type CheckedField } from './post-sign-check.ts';
import { createStore } from '../store/kysely-store.ts';
import type { Store, User } from '../store/repositories.ts';
import { createAuditor } from '../audit/auditor.ts';
import { ManualClock } from '../clock.ts';
import { publicKeyFromKeyObject } from '../ssh/keys.ts';
import { parseCertificateBlob, signCertificate, type Certificate, type CertificateFields } from '../ssh/certificate.ts';
import { signSsh } from '../ssh/signature.ts';
import { SshReader, SshWriter } from '../ssh/wire.ts';
import { isAirlockError } from '../errors.ts';

let dir: string;
let store: Store;
let keys: CaKeys;
let clock: ManualClock;
let alice: User;
const newKey = () => publicKeyFromKeyObject(generateKeyPairSync('ed25519').publicKey);
const otherCa = generateKeyPairSync('ed25519').privateKey;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-postsign-'));
  store = await createStore({ url: 'sqlite::memory:', dataDir: dir });
  keys = loadCaKeys(dir);
  clock = new ManualClock(Date.parse('2026-11-24T10:00:00Z'));
  alice = await store.users.create({ name: 'alice', email: null, isAdmin: false, passwordHash: 'x', totpSecret: null }, clock.now());
});

after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function caWith(sign: CertificateSigner): CertificateAuthority {
  return new CertificateAuthority({
    keys, store, clock, audit: createAuditor({ repository: store.audit, clock, log: null }),
    policy: { ttlMs: DAY_MS, dailyLimit: 1000, allowAgentForwarding: false }, issuer: 'Test', sign,
  });
}

/** A signer that changes the fields before signing them properly with the CA key. */
const tamperFields = (f: (fields: CertificateFields) => CertificateFields): CertificateSigner => (fields, caKey, comment) => signCertificate(f(fields), caKey, comment);

/** Re-signs `cert` with its nonce replaced (signCertificate itself refuses a short nonce). */
function withNonce(cert: Certificate, nonce: Buffer, caKey: KeyObject): Certificate {
  const r = new SshReader(cert.signedData);
  r.string();
  r.string();
  const rest = cert.signedData.subarray(r.offset);
  const signedData = new SshWriter().string(cert.certType).string(nonce).raw(rest).toBuffer();
  return parseCertificateBlob(new SshWriter().raw(signedData).string(signSsh(caKey, signedData)).toBuffer());
}

/** One faulty signer per field of the certificate, and the field the check must name. */
const FAULTS: [CheckedField, CertificateSigner][] = [
  ['cert_type', tamperFields((f) => ({ ...f, publicKey: publicKeyFromKeyObject(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey) }))],
  ['nonce', (f, k, c) => withNonce(signCertificate(f, k, c), Buffer.alloc(0), k)],
  ['public_key', tamperFields((f) => ({ ...f, publicKey: newKey() }))],
  ['serial', tamperFields((f) => ({ ...f, serial: f.serial + 1n }))],
  ['type', tamperFields((f) => ({ ...f, type: 'host' }))],
  ['key_id', tamperFields((f) => ({ ...f, keyId: `${f.keyId}-x` }))],
  ['principals', tamperFields((f) => ({ ...f, principals: [...f.principals, 'root'] }))],
  ['valid_after', tamperFields((f) => ({ ...f, validAfter: f.validAfter - 3600n }))],
  ['valid_before', tamperFields((f) => ({ ...f, validBefore: f.validBefore + 1n }))],
  ['critical_options', tamperFields((f) => ({ ...f, criticalOptions: { ...f.criticalOptions, 'force-command': '/bin/sh' } }))],
  ['extensions', tamperFields((f) => ({ ...f, extensions: { ...f.extensions, 'permit-agent-forwarding': '' } }))],
  ['signature_key', (f, _k, c) => signCertificate(f, otherCa, c)],
  ['signature', (f, k, c) => {
    const cert = signCertificate(f, k, c);
    const blob = Buffer.from(cert.blob);
    blob[blob.length - 1]! ^= 0x01;
    return { ...cert, blob };
  }],
];

test('control: the real signer passes the post-sign check', async () => {
  const issued = await caWith(signCertificate).issueUserCertificate({ user: alice, publicKey: newKey(), method: 'api', clientAddress: null });
  assert.ok(await store.certificates.bySerial(issued.serial));
});

test('a signer that tampers with any single field is caught: nothing is handed out or recorded, the failure is audited', async () => {
  assert.deepEqual(FAULTS.map(([f]) => f).sort(), [...CHECKED_FIELDS].sort(), 'every checked field has a faulty signer');
  for (const [field, sign] of FAULTS) {
    const before = (await store.certificates.listByUser(alice.id)).length;
    await assert.rejects(
      caWith(sign).issueUserCertificate({ user: alice, publicKey: newKey(), method: 'api', clientAddress: null }),
      (e) => isAirlockError(e, 'internal') && e.details?.field === field && /withheld/.test(e.message),
      field,
    );
    assert.equal((await store.certificates.listByUser(alice.id)).length, before, `${field}: nothing recorded`);
    const audited = (await store.audit.list({ type: 'cert.issue', actor: 'alice' })).at(-1);
    assert.equal(audited?.outcome, 'failure', field);
    assert.equal(audited?.details.field, field);
  }
});

test('the object returned by the signer is not believed: its blob is what is checked', async () => {
  const lying: CertificateSigner = (f, k, c) => ({ ...signCertificate({ ...f, principals: [...f.principals, 'root'] }, k, c), principals: f.principals });
  await assert.rejects(caWith(lying).issueUserCertificate({ user: alice, publicKey: newKey(), method: 'api', clientAddress: null }), (e) => isAirlockError(e, 'internal') && e.details?.field === 'principals');
});

test('host certificates get the same check', async () => {
  const req = { publicKey: newKey(), principals: ['node1.example'], ttlMs: DAY_MS, actor: 'admin' };
  await caWith(signCertificate).issueHostCertificate(req);
  await assert.rejects(caWith(tamperFields((f) => ({ ...f, principals: ['*'] }))).issueHostCertificate({ ...req, publicKey: newKey() }), (e) => isAirlockError(e, 'internal') && e.details?.field === 'principals');
});

test('the signature is proven by signing again (Ed25519) or by verifying (randomised signature types), and a wrong one is caught either way', () => {
  const now = BigInt(Math.floor(clock.now() / 1000));
  const fields: CertificateFields = {
    type: 'user', publicKey: newKey(), serial: 7n, keyId: 'alice@Test', principals: ['alice'], validAfter: now - 60n, validBefore: now + 3600n,
    criticalOptions: {}, extensions: { 'permit-pty': '' },
  };
  for (const privateKey of [keys.user.privateKey, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey]) {
    const ca = { privateKey, publicKey: publicKeyFromKeyObject(privateKey) };
    const cert = signCertificate(fields, privateKey);
    assert.equal(assertIssuedAsPlanned(cert, fields, ca, now).serial, 7n, privateKey.asymmetricKeyType);
    const blob = Buffer.from(cert.blob);
    blob[blob.length - 1]! ^= 0x01;
    assert.throws(() => assertIssuedAsPlanned({ ...cert, blob }, fields, ca, now), (e) => isAirlockError(e, 'internal') && e.details?.field === 'signature', privateKey.asymmetricKeyType);
  }
});
