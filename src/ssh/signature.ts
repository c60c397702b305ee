/**
 * SSH signature blobs: `string algorithm, string signature` (RFC 4253 §6.6). Ed25519 signatures are
 * the raw 64 bytes (RFC 8709), ECDSA ones are `mpint r, mpint s` inside the string (RFC 5656 §3.1.2),
 * RSA ones use SHA-2 (RFC 8332). `ssh-rsa` (SHA-1) signatures are refused: SHA-1 is broken for
 * signatures (SHAmbles) and OpenSSH 8.8 disabled them.
 */
import { sign, verify, type KeyObject } from 'node:crypto';
import { AirlockError } from '../errors.ts';
import { ecdsaCurve, keyObjectFromPublicKey, publicKeyFromKeyObject, type PublicKey } from './keys.ts';
import { SshReader, SshWriter } from './wire.ts';

/** The RSA signature algorithms accepted (RFC 8332). */
export type RsaSignatureAlgorithm = 'rsa-sha2-256' | 'rsa-sha2-512';

/** A parsed signature blob. */
export interface SshSignature {
  algorithm: string;
  /** The inner bytes: raw for ed25519/RSA, the `mpint r, mpint s` encoding for ECDSA (a view into the blob). */
  bytes: Buffer;
}

/** Parses the outer structure of a signature blob (no cryptography). */
export function parseSignatureBlob(blob: Buffer, code: 'invalid_certificate' | 'bad_request' = 'bad_request'): SshSignature {
  const r = new SshReader(blob, { code, what: 'signature' });
  const algorithm = r.text('signature algorithm');
  const bytes = r.string('signature bytes');
  r.expectEnd('the signature');
  return { algorithm, bytes };
}

/** The signature algorithm name a key signs with (RSA: the given SHA-2 variant). */
export function signatureAlgorithmFor(pk: PublicKey, rsaAlg: RsaSignatureAlgorithm = 'rsa-sha2-512'): string {
  return pk.type === 'ssh-rsa' ? rsaAlg : pk.type;
}

/** Signs `data` and returns the SSH signature blob. RSA keys sign with rsa-sha2-512 unless told otherwise. */
export function signSsh(privateKey: KeyObject, data: Buffer, rsaAlg: RsaSignatureAlgorithm = 'rsa-sha2-512'): Buffer {
  if (privateKey.type !== 'private') throw new AirlockError('bad_request', 'signing needs a private key');
  const pk = publicKeyFromKeyObject(privateKey);
  const w = new SshWriter();
  if (pk.type === 'ssh-ed25519') {
    return w.string('ssh-ed25519').string(sign(null, data, privateKey)).toBuffer();
  }
  if (pk.type === 'ssh-rsa') {
    if (rsaAlg !== 'rsa-sha2-256' && rsaAlg !== 'rsa-sha2-512') throw new AirlockError('bad_request', `unsupported RSA signature algorithm ${String(rsaAlg)}`);
    const hash = rsaAlg === 'rsa-sha2-256' ? 'sha256' : 'sha512';
    return w.string(rsaAlg).string(sign(hash, data, privateKey)).toBuffer();
  }
  const curve = ecdsaCurve(pk.type)!;
  const rs = sign(curve.hash, data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  const inner = new SshWriter()
    .mpint(rs.subarray(0, curve.fieldBytes))
    .mpint(rs.subarray(curve.fieldBytes))
    .toBuffer();
  return w.string(pk.type).string(inner).toBuffer();
}

function leftPad(b: Buffer, n: number): Buffer {
  if (b.length > n) throw new Error('value too long');
  return b.length === n ? b : Buffer.concat([Buffer.alloc(n - b.length), b]);
}

/**
 * Verifies an SSH signature blob over `data` with `pk`. The algorithm must match the key type;
 * `ssh-rsa` (SHA-1) is refused. Never throws: anything malformed is simply not a valid signature.
 */
export function verifySsh(pk: PublicKey, data: Buffer, sigBlob: Buffer): boolean {
  let sig: SshSignature;
  try {
    sig = parseSignatureBlob(sigBlob);
  } catch {
    return false;
  }
  return verifyParsedSignature(pk, data, sig);
}

/** verifySsh for a signature blob already read with parseSignatureBlob (a certificate parse reads it). */
export function verifyParsedSignature(pk: PublicKey, data: Buffer, sig: SshSignature): boolean {
  try {
    const key = keyObjectFromPublicKey(pk);
    if (pk.type === 'ssh-ed25519') {
      if (sig.algorithm !== 'ssh-ed25519' || sig.bytes.length !== 64) return false;
      return verify(null, data, key, sig.bytes);
    }
    if (pk.type === 'ssh-rsa') {
      if (sig.algorithm !== 'rsa-sha2-256' && sig.algorithm !== 'rsa-sha2-512') return false;
      const modulusBytes = Math.ceil(pk.bits / 8);
      // OpenSSH accepts a signature shorter than the modulus and left-pads it (ssh-rsa.c).
      if (sig.bytes.length === 0 || sig.bytes.length > modulusBytes) return false;
      const hash = sig.algorithm === 'rsa-sha2-256' ? 'sha256' : 'sha512';
      return verify(hash, data, key, leftPad(sig.bytes, modulusBytes));
    }
    const curve = ecdsaCurve(pk.type)!;
    if (sig.algorithm !== pk.type) return false;
    const r = new SshReader(sig.bytes, { what: 'ECDSA signature' });
    const rInt = r.mpint('r', curve.fieldBytes + 1);
    const sInt = r.mpint('s', curve.fieldBytes + 1);
    r.expectEnd('the ECDSA signature');
    if (rInt.length === 0 || sInt.length === 0 || rInt.length > curve.fieldBytes || sInt.length > curve.fieldBytes) return false;
    const p1363 = Buffer.concat([leftPad(rInt, curve.fieldBytes), leftPad(sInt, curve.fieldBytes)]);
    return verify(curve.hash, data, { key, dsaEncoding: 'ieee-p1363' }, p1363);
  } catch {
    return false;
  }
}
