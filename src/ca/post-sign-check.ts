/**
 * The CA's post-sign check: the certificate that comes back from the signer is parsed from its
 * signed bytes again and compared, field by field, with what the issuance policy planned — the shape
 * of step-ca's post-sign validators (authority/provisioner/sign_ssh_options.go), extended to every
 * field of PROTOCOL.certkeys. A signing bug, a library regression or a tampered signer therefore
 * cannot hand out a certificate with one principal, option, extension or second more than planned.
 * Pure: no I/O.
 */
import type { KeyObject } from 'node:crypto';
import { AirlockError } from '../errors.ts';
import { certTypeFor, parseCertificateBlob, verifyParsedCertificate, type Certificate, type CertificateFields } from '../ssh/certificate.ts';
import type { PublicKey } from '../ssh/keys.ts';
import { signSsh, verifySsh } from '../ssh/signature.ts';

/** Shortest nonce accepted (PROTOCOL.certkeys: the nonce guards against hash collisions; OpenSSH uses 32 bytes). */
const MIN_NONCE_BYTES = 16;

/** The names of the fields the check compares, in wire order (also the `field` of its errors). */
export const CHECKED_FIELDS = [
  'cert_type', 'nonce', 'public_key', 'serial', 'type', 'key_id', 'principals', 'valid_after', 'valid_before',
  'critical_options', 'extensions', 'signature_key', 'signature',
] as const;
export type CheckedField = (typeof CHECKED_FIELDS)[number];

/** Same names with the same values: as many names, and each of `a`'s is `b`'s own with an equal value. */
function sameOptions(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    if (!Object.hasOwn(b, k) || a[k] !== b[k]) return false;
  }
  return true;
}

function withheld(field: CheckedField, cause?: unknown): AirlockError {
  return new AirlockError('internal', `The CA produced a certificate whose ${field.replace('_', ' ')} differs from what it planned, and withheld it; report this to the operators.`, {
    details: { field },
    ...(cause === undefined ? {} : { cause }),
  });
}

/** The CA key a certificate was planned for: both halves, because the check signs again (signedAgain). */
export interface PlannedSigner {
  privateKey: KeyObject;
  publicKey: PublicKey;
}

/**
 * Whether `signatureBlob` is the signature `ca` makes over `signedData`, for verifyParsedCertificate.
 * Ed25519 is deterministic (RFC 8032 §5.1.6: the nonce is a hash of the key and the message), so
 * signing the same bytes again and comparing proves the signature the one the CA key makes, at a
 * third of the cost of verifying it (Node 26 here: ~38 µs against ~100 µs, which was a quarter of an
 * issuance). It is also the classic guard against fault attacks on deterministic signatures (a glitch
 * while signing yields a signature that, beside a correct one of the same bytes, gives the key away):
 * a fault in either computation makes the two differ and the certificate is withheld. It trusts the
 * signing primitive itself to be right, which the CA's start-up self-test establishes for both its
 * keys (signer-self-test.ts). Other key types sign with fresh randomness: they are verified.
 */
function signedAgain(ca: PlannedSigner): (signedData: Buffer, signatureBlob: Buffer) => boolean {
  if (ca.privateKey.asymmetricKeyType !== 'ed25519') return (data, sig) => verifySsh(ca.publicKey, data, sig);
  return (data, sig) => signSsh(ca.privateKey, data).equals(sig);
}

/**
 * Re-reads `issued` from its blob and returns it when every field equals `planned`, the nonce is not
 * empty, the signing key is `ca`'s and the signature is the one `ca` makes (signedAgain); otherwise
 * throws AirlockError('internal') naming the first field that differs. `now` (seconds) is when the
 * certificate must be valid.
 */
export function assertIssuedAsPlanned(issued: Certificate, planned: CertificateFields, ca: PlannedSigner, now: bigint): Certificate {
  const caKey = ca.publicKey;
  // The blob is what is signed and handed out; the object's other fields may say anything.
  const c = parseCertificateBlob(issued.blob);
  if (c.certType !== certTypeFor(planned.publicKey.type)) throw withheld('cert_type');
  if (c.nonce === undefined || c.nonce.length < MIN_NONCE_BYTES) throw withheld('nonce');
  if (!c.publicKey.blob.equals(planned.publicKey.blob)) throw withheld('public_key');
  if (c.serial !== planned.serial || c.serial === 0n) throw withheld('serial');
  if (c.type !== planned.type) throw withheld('type');
  if (c.keyId !== planned.keyId || c.keyId === '') throw withheld('key_id');
  if (c.principals.length === 0 || c.principals.length !== planned.principals.length || c.principals.some((p, i) => p !== planned.principals[i])) throw withheld('principals');
  if (c.validAfter !== planned.validAfter) throw withheld('valid_after');
  if (c.validBefore !== planned.validBefore || c.validBefore <= c.validAfter) throw withheld('valid_before');
  if (!sameOptions(c.criticalOptions, planned.criticalOptions)) throw withheld('critical_options');
  if (!sameOptions(c.extensions, planned.extensions)) throw withheld('extensions');
  if (!c.signatureKey.blob.equals(caKey.blob)) throw withheld('signature_key');
  try {
    // source-address is checked where the client connects: there is no client address here.
    // c is the parse above, unchanged: verifying it without another parse checks the same bytes.
    verifyParsedCertificate(c, { trustedCaBlobs: [caKey.blob], now, type: planned.type, principal: planned.principals[0]!, ignoreSourceAddress: true, signatureCheck: signedAgain(ca) });
  } catch (err) {
    throw withheld('signature', err);
  }
  return { ...c, comment: issued.comment };
}
