/**
 * The CA's start-up self-test of its signer, in the manner of FIPS 140-3's known-answer and pairwise
 * consistency tests. The post-sign check proves each certificate's signature by signing its bytes again
 * and comparing (post-sign-check.ts): that trusts the Ed25519 primitive to be right, and this test is
 * where the primitive earns it, before the first certificate. A known answer from RFC 8032 shows that
 * the runtime's Ed25519 signs as the standard says; then each CA key signs a message, the signature
 * must verify with the public key the CA hands out, and signing again must give the same bytes.
 * Pure: no I/O.
 */
import { createPrivateKey } from 'node:crypto';
import { AirlockError } from '../errors.ts';
import { ed25519SeedPkcs8 } from '../ssh/private-key.ts';
import { signSsh, verifySsh } from '../ssh/signature.ts';
import { SshWriter } from '../ssh/wire.ts';
import type { CaKey } from './ca-keys.ts';

/** The signing function under test: the one the CA and its post-sign check use. */
export type SshSigner = typeof signSsh;

/** RFC 8032 §7.1, TEST 2: a one-byte message (TEST 1's is empty). */
const KNOWN_ANSWER = {
  secret: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
  message: '72',
  signature: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
};

function failed(what: string): AirlockError {
  return new AirlockError('internal', `The CA's signing self-test failed: ${what}. It will not sign anything; report this to the Airlock developers with the Node.js version (${process.version}).`);
}

/**
 * Throws AirlockError('internal') unless `sign` gives RFC 8032's known answer, and each key's signature
 * verifies with its public key and comes out the same when made twice.
 */
export function assertSignerWorks(keys: readonly CaKey[], sign: SshSigner = signSsh): void {
  const kat = createPrivateKey({ key: ed25519SeedPkcs8(Buffer.from(KNOWN_ANSWER.secret, 'hex')), format: 'der', type: 'pkcs8' });
  const expected = new SshWriter().string('ssh-ed25519').string(Buffer.from(KNOWN_ANSWER.signature, 'hex')).toBuffer();
  if (!sign(kat, Buffer.from(KNOWN_ANSWER.message, 'hex')).equals(expected)) throw failed('Ed25519 does not give the signature of RFC 8032, section 7.1, test 2');
  for (const key of keys) {
    const message = Buffer.from(`airlock signer self-test, ${key.role} CA, ${key.publicKey.type}`);
    const first = sign(key.privateKey, message);
    if (!verifySsh(key.publicKey, message, first)) throw failed(`a signature of the ${key.role} CA key does not verify with its public key`);
    if (key.privateKey.asymmetricKeyType === 'ed25519' && !sign(key.privateKey, message).equals(first)) {
      throw failed(`the ${key.role} CA key signed the same bytes twice and got two different signatures`);
    }
  }
}
