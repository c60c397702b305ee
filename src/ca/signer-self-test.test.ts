import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertSignerWorks, type SshSigner } from './signer-self-test.ts';
import { CertificateAuthority } from './authority.ts';
import { loadCaKeys, type CaKey } from './ca-keys.ts';
import { DAY_MS } from './issuance-policy.ts';
import { createStore } from '../store/kysely-store.ts';
import { createAuditor } from '../audit/auditor.ts';
import { ManualClock } from '../clock.ts';
import { isAirlockError } from '../errors.ts';
import { publicKeyFromKeyObject } from '../ssh/keys.ts';
import { signSsh } from '../ssh/signature.ts';

const caKey = (role: 'user' | 'host'): CaKey => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { role, privateKey, publicKey: publicKeyFromKeyObject(publicKey) };
};
const refused = (pattern: RegExp) => (e: unknown) => isAirlockError(e, 'internal') && pattern.test(e.message) && /will not sign/.test(e.message);

test('the real signer passes: the RFC 8032 answer, and both CA keys sign, verify and repeat themselves', () => {
  assertSignerWorks([caKey('user'), caKey('host')]);
});

test('a signer that gets the known answer wrong is refused (one bit of the signature flipped)', () => {
  const flipped: SshSigner = (key, data, alg) => {
    const sig = Buffer.from(signSsh(key, data, alg));
    sig[sig.length - 1]! ^= 0x80;
    return sig;
  };
  assert.throws(() => assertSignerWorks([caKey('user')], flipped), refused(/RFC 8032/));
});

test('a CA key whose public half is not its private key\'s is refused: its signatures would not verify', () => {
  const mismatched: CaKey = { ...caKey('user'), publicKey: caKey('user').publicKey };
  assert.throws(() => assertSignerWorks([caKey('host'), mismatched]), refused(/user CA key does not verify/));
});

test('a signer that does not sign the same bytes the same way twice is refused: signing again could not prove a signature', () => {
  // Right on the known answer and on the CA key's first signature: only the repeat can catch it.
  const key = caKey('user');
  let caSignatures = 0;
  const drifting: SshSigner = (k, data, alg) => (k === key.privateKey && ++caSignatures === 2 ? signSsh(k, Buffer.concat([data, Buffer.of(0)]), alg) : signSsh(k, data, alg));
  assert.throws(() => assertSignerWorks([key], drifting), refused(/signed the same bytes twice and got two different signatures/));
  assert.equal(caSignatures, 2);
});

test('the CA runs the self-test when it is created: mismatched keys never get to sign', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-selftest-'));
  const store = await createStore({ url: 'sqlite::memory:', dataDir: dir });
  try {
    const keys = loadCaKeys(dir);
    const clock = new ManualClock(Date.parse('2026-12-05T10:00:00Z'));
    const deps = { store, clock, audit: createAuditor({ repository: store.audit, clock, log: null }), policy: { ttlMs: DAY_MS, dailyLimit: 5, allowAgentForwarding: false }, issuer: 'Test' };
    assert.doesNotThrow(() => new CertificateAuthority({ ...deps, keys }));
    assert.throws(() => new CertificateAuthority({ ...deps, keys: { ...keys, host: { ...keys.host, publicKey: keys.user.publicKey } } }), refused(/host CA key does not verify/));
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
