/**
 * Verifying the user-auth signature of a plain public key as ssh2 hands it over. ssh2 pre-processes it
 * (lib/protocol/handlers.misc.js): when the signature's algorithm name equals the key algorithm it strips
 * the `string alg, string sig` wrapper, and for ECDSA it re-encodes `mpint r, mpint s` as DER;
 * `rsa-sha2-256/512` arrive as key algorithm `ssh-rsa` with `hashAlgo` set. For certificates none of that
 * happens (the names never match), so certificate signatures are checked with `verifySsh` on the wire blob.
 */
import { verify } from 'node:crypto';
import { ecdsaCurve, keyObjectFromPublicKey, type PublicKey } from '../ssh/keys.ts';

/**
 * Verifies a plain-key signature in ssh2's processed form over `data`. RSA requires a SHA-2 hash
 * (`hashAlgo` sha256/sha512; `ssh-rsa` SHA-1 signatures are refused). Never throws.
 */
export function verifyProcessedSignature(pk: PublicKey, hashAlgo: string | undefined, signature: Buffer, data: Buffer): boolean {
  try {
    const key = keyObjectFromPublicKey(pk);
    if (pk.type === 'ssh-ed25519') return signature.length === 64 && verify(null, data, key, signature);
    if (pk.type === 'ssh-rsa') {
      if (hashAlgo !== 'sha256' && hashAlgo !== 'sha512') return false;
      const modulusBytes = Math.ceil(pk.bits / 8);
      if (signature.length === 0 || signature.length > modulusBytes) return false;
      const padded = signature.length === modulusBytes ? signature : Buffer.concat([Buffer.alloc(modulusBytes - signature.length), signature]);
      return verify(hashAlgo, data, key, padded);
    }
    const curve = ecdsaCurve(pk.type);
    if (curve === undefined || hashAlgo !== undefined) return false;
    return verify(curve.hash, data, { key, dsaEncoding: 'der' }, signature);
  } catch {
    return false;
  }
}
