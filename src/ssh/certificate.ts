/**
 * OpenSSH certificates (PROTOCOL.certkeys, *-cert-v01@openssh.com): signing, parsing and verifying.
 * The parser refuses anything sshd would refuse and a few things it would accept but should not
 * (unsorted or duplicate options, invalid UTF-8, non-empty reserved field); the verifier is the
 * gateway's whole certificate check, one distinct message per reason.
 */
import type { KeyObject } from 'node:crypto';
import { pooledRandomFill } from './random-pool.ts';
import { AirlockError, isAirlockError } from '../errors.ts';
import { cidrListContains, parseCidrList } from './cidr.ts';
import { fingerprintSha256 } from './fingerprint.ts';
import {
  assertAcceptableKey,
  decodeBase64Strict,
  isKeyType,
  parsePublicKeyBlob,
  publicKeyFromKeyObject,
  readPublicKeyParts,
  splitKeyLine,
  type KeyType,
  type PublicKey,
} from './keys.ts';
import { parseSignatureBlob, signSsh, verifyParsedSignature } from './signature.ts';
import { SshReader, SshWriter } from './wire.ts';

/** What a CA decides when it issues a certificate. */
export interface CertificateFields {
  type: 'user' | 'host';
  publicKey: PublicKey;
  serial: bigint;
  keyId: string;
  principals: string[];
  /** Seconds since the epoch. */
  validAfter: bigint;
  /** Seconds since the epoch; 0xffffffffffffffffn means forever. */
  validBefore: bigint;
  /** Name → value; '' is a flag (empty data). */
  criticalOptions: Record<string, string>;
  /** Name → value; '' is a flag (empty data), as for all the standard permit-* extensions. */
  extensions: Record<string, string>;
  nonce?: Buffer;
}

/** A certificate as signed or parsed; `blob` is the wire encoding and the source of truth. */
export interface Certificate extends CertificateFields {
  certType: string;
  blob: Buffer;
  signatureKey: PublicKey;
  signature: Buffer;
  signedData: Buffer;
  comment: string;
}

/** Options of verifyCertificate. */
export interface VerifyCertificateOptions {
  /** Plain public key blobs of the trusted CAs. */
  trustedCaBlobs: Buffer[];
  /** Seconds since the epoch. */
  now: bigint;
  type: 'user' | 'host';
  /** The principal (user name or host name) that must be listed. */
  principal?: string;
  /** The client's address; required when the certificate carries source-address. */
  sourceAddress?: string;
  /**
   * Skip the source-address check on purpose (e.g. the CA checking a certificate it just issued,
   * with no client in sight). Without it, a certificate with source-address and no `sourceAddress`
   * is refused: failing closed is the safe default.
   */
  ignoreSourceAddress?: boolean;
  /** Critical options the caller enforces; default force-command and source-address. */
  knownCriticalOptions?: readonly string[];
  /**
   * Checks the signature in place of verifying it with the CA's public key: only for a caller that
   * holds the CA's private key and signs the bytes again (the CA's post-sign check,
   * ca/post-sign-check.ts). Gets the signed bytes and the signature blob; false refuses the certificate.
   */
  signatureCheck?: (signedData: Buffer, signatureBlob: Buffer) => boolean;
}

export const CERT_TYPE_USER = 1;
export const CERT_TYPE_HOST = 2;
export const FOREVER = 0xffffffffffffffffn;
/** OpenSSH's SSHKEY_CERT_MAX_PRINCIPALS. */
export const MAX_PRINCIPALS = 256;
export const DEFAULT_KNOWN_CRITICAL_OPTIONS: readonly string[] = ['force-command', 'source-address'];
const CERT_SUFFIX = '-cert-v01@openssh.com';
const MAX_CERT_BYTES = 64 * 1024;
const NONCE_BYTES = 32;
const UINT64_MAX = 0xffffffffffffffffn;

function invalid(message: string): AirlockError {
  return new AirlockError('invalid_certificate', message);
}

/** The certificate type name for a plain key type. */
export function certTypeFor(type: KeyType): string {
  return `${type}${CERT_SUFFIX}`;
}

/** Shows an untrusted string in a message: quoted, escaped, shortened. */
function show(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);
}

/**
 * Why a principal is unacceptable, or undefined if it is fine. Commas would split it in
 * authorized_principals matching, whitespace and control characters make logs and config lie.
 */
export function principalProblem(p: string): string | undefined {
  if (p === '') return 'is empty';
  if (p.length > 256) return 'is longer than 256 characters';
  if (p.includes(',')) return 'contains a comma';
  if (/\s/.test(p)) return 'contains whitespace';
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/[\x00-\x1f\x7f-\x9f]/.test(p)) return 'contains control characters';
  return undefined;
}

/** Option and extension names: printable, no spaces; '=' would be ambiguous on ssh-keygen's command line. */
function optionNameProblem(name: string): string | undefined {
  if (name === '') return 'is empty';
  if (name.length > 256) return 'is too long';
  if (!/^[\x21-\x7e]+$/.test(name)) return 'must be printable ASCII without spaces';
  return undefined;
}

/**
 * Checks the names and values of critical options or extensions and returns them sorted by name.
 * Names are printable ASCII once checked, so code-unit order is the byte order PROTOCOL.certkeys asks for.
 */
function sortedOptions(opts: Record<string, string>, what: string): [string, string][] {
  const entries = Object.entries(opts);
  let sorted = true;
  for (let i = 0; i < entries.length; i++) {
    const [name, value] = entries[i]!;
    const problem = optionNameProblem(name);
    if (problem !== undefined) throw new AirlockError('bad_request', `${what} name ${show(name)} ${problem}`);
    if (typeof value !== 'string') throw new AirlockError('bad_request', `${what} ${name} must have a string value`);
    if (i > 0 && entries[i - 1]![0] > name) sorted = false;
  }
  // Callers usually list them in order already; sorting allocates even then.
  return sorted ? entries : entries.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
}

/** Writes sorted options as one string: each a name, then its value as a string inside a string ('' is empty data). */
function writeOptions(w: SshWriter, entries: readonly [string, string][]): void {
  const outer = w.openString();
  for (const [name, value] of entries) {
    w.string(name);
    if (value === '') {
      w.uint32(0);
    } else {
      const inner = w.openString();
      w.string(value).closeString(inner);
    }
  }
  w.closeString(outer);
}

/** Decodes critical options or extensions, refusing unsorted or repeated names and odd data. */
function decodeOptions(data: Buffer, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (data.length === 0) return out;
  const r = new SshReader(data, { code: 'invalid_certificate', what: () => `certificate ${what}` });
  let previous: string | undefined;
  while (!r.atEnd()) {
    const name = r.text('name');
    const problem = optionNameProblem(name);
    if (problem !== undefined) throw invalid(`certificate ${what}: name ${show(name)} ${problem}`);
    // Both names are printable ASCII (checked above), so comparing code units compares bytes.
    if (previous !== undefined) {
      if (previous === name) throw invalid(`certificate ${what}: ${show(name)} appears more than once`);
      if (previous > name) throw invalid(`certificate ${what}: ${show(name)} is out of order (names must be sorted)`);
    }
    previous = name;
    const body = r.string(`value of ${name}`);
    let value = '';
    if (body.length > 0) {
      const inner = new SshReader(body, { code: 'invalid_certificate', what: () => `certificate ${what} ${show(name)}` });
      value = inner.text('value');
      inner.expectEnd('the value');
    }
    // Assigning "__proto__" would set the prototype instead: that one name becomes an own property explicitly.
    if (name === '__proto__') Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
    else out[name] = value;
  }
  return out;
}

function decodePrincipals(data: Buffer): string[] {
  const r = new SshReader(data, { code: 'invalid_certificate', what: 'certificate principals' });
  const out: string[] = [];
  while (!r.atEnd()) {
    if (out.length >= MAX_PRINCIPALS) throw invalid(`certificate has more than ${MAX_PRINCIPALS} principals`);
    out.push(r.text('principal'));
  }
  return out;
}

/** Re-labels errors from the key parsers as certificate errors, keeping the reason. */
function asCertError(err: unknown, prefix: string): never {
  if (isAirlockError(err)) {
    if (err.code === 'invalid_certificate') throw err;
    throw new AirlockError('invalid_certificate', `${prefix}: ${err.message}`, { cause: err });
  }
  throw err;
}

/** Parses the CA key inside a certificate, refusing a CA key that is itself a certificate. */
function parseSignatureKey(blob: Buffer): PublicKey {
  try {
    return parsePublicKeyBlob(blob);
  } catch (err) {
    // Only a key that does not parse can be a certificate: read its type again to say why.
    const r = new SshReader(blob, { code: 'invalid_certificate', what: 'certificate CA key' });
    if (r.text('key type').endsWith(CERT_SUFFIX)) {
      // Chained certificates are not part of the protocol; accepting one let a certificate act as a CA
      // in Teleport (CVE-2025-49825).
      throw invalid('the CA key that signed this certificate is itself a certificate; chained certificates are not accepted');
    }
    return asCertError(err, 'certificate CA key');
  }
}

/**
 * Parses a certificate blob (wire format). The blob is copied once and the returned byte fields
 * (blob, nonce, signedData, signature) are views of that copy: later changes to `blob` do not reach them.
 */
export function parseCertificateBlob(blob: Buffer): Certificate {
  if (blob.length > MAX_CERT_BYTES) throw invalid(`certificate is too large (${blob.length} bytes)`);
  const own = Buffer.from(blob);
  const r = new SshReader(own, { code: 'invalid_certificate', what: 'certificate' });
  const certType = r.text('certificate type');
  if (!certType.endsWith(CERT_SUFFIX)) {
    if (isKeyType(certType)) throw invalid(`this is a plain ${certType} public key, not a certificate`);
    throw invalid(`not an OpenSSH certificate (type ${show(certType)})`);
  }
  const keyType = certType.slice(0, -CERT_SUFFIX.length);
  if (keyType === 'ssh-dss') throw invalid('DSA certificates are no longer accepted; certify an ed25519 key instead');
  if (!isKeyType(keyType)) throw invalid(`unsupported certificate type ${show(certType)}`);
  const nonce = r.string('nonce');
  let publicKey: PublicKey;
  try {
    const parts = readPublicKeyParts(r, keyType);
    publicKey = { type: keyType, blob: parts.blob, bits: parts.bits, comment: '' };
  } catch (err) {
    return asCertError(err, 'certified key');
  }
  const serial = r.uint64();
  const typeCode = r.uint32();
  if (typeCode !== CERT_TYPE_USER && typeCode !== CERT_TYPE_HOST) throw invalid(`unknown certificate type code ${typeCode} (1 = user, 2 = host)`);
  const keyId = r.text('key ID');
  const principals = decodePrincipals(r.string('principals'));
  const validAfter = r.uint64();
  const validBefore = r.uint64();
  const criticalOptions = decodeOptions(r.string('critical options'), 'critical options');
  const extensions = decodeOptions(r.string('extensions'), 'extensions');
  const reserved = r.string('reserved');
  if (reserved.length !== 0) throw invalid('certificate reserved field is not empty');
  const signatureKey = parseSignatureKey(r.string('CA key'));
  const signedData = own.subarray(0, r.offset);
  const signature = r.string('signature');
  r.expectEnd('the certificate');
  parseSignatureBlob(signature, 'invalid_certificate');
  return {
    type: typeCode === CERT_TYPE_USER ? 'user' : 'host',
    publicKey,
    serial,
    keyId,
    principals,
    validAfter,
    validBefore,
    criticalOptions,
    extensions,
    nonce,
    certType,
    blob: own,
    signatureKey,
    signature,
    signedData,
    comment: '',
  };
}

/** Parses a certificate: a wire blob, or a one-line `certType base64 [comment]` text (a -cert.pub file). */
export function parseCertificate(input: Buffer | string): Certificate {
  if (Buffer.isBuffer(input)) return parseCertificateBlob(input);
  if (typeof input !== 'string') throw invalid('certificate must be text or bytes');
  const { type, data, comment } = splitKeyLine(input, 'certificate', 'invalid_certificate');
  if (!type.endsWith(CERT_SUFFIX)) {
    if (isKeyType(type)) throw invalid(`this is a plain ${type} public key, not a certificate`);
    throw invalid(`not an OpenSSH certificate (type ${show(type)})`);
  }
  const cert = parseCertificateBlob(decodeBase64Strict(data, 'certificate data', 'invalid_certificate'));
  if (cert.certType !== type) throw invalid(`the line says ${show(type)} but the certificate data is ${cert.certType}`);
  return { ...cert, comment };
}

/** Formats a certificate as one line: `<certType> <base64> [comment]`. */
export function formatCertificate(cert: Certificate): string {
  // eslint-disable-next-line no-control-regex -- a newline would add a line to the file
  if (/[\x00-\x1f\x7f]/.test(cert.comment)) throw new AirlockError('bad_request', 'certificate comment must not contain control characters');
  const base = `${cert.certType} ${cert.blob.toString('base64')}`;
  return cert.comment === '' ? base : `${base} ${cert.comment}`;
}

/** Checks what a CA is about to sign; every problem is a bad_request with its reason. */
function validateFields(fields: CertificateFields): PublicKey {
  const bad = (m: string): AirlockError => new AirlockError('bad_request', m);
  if (fields.type !== 'user' && fields.type !== 'host') throw bad('certificate type must be user or host');
  const key = parsePublicKeyBlob(fields.publicKey.blob);
  if (key.type !== fields.publicKey.type) throw bad(`public key says ${fields.publicKey.type} but its blob is ${key.type}`);
  assertAcceptableKey(key);
  if (typeof fields.serial !== 'bigint' || fields.serial < 0n || fields.serial > UINT64_MAX) throw bad('serial must be a uint64');
  if (fields.keyId === '') throw bad('key ID must not be empty');
  if (fields.keyId.length > 1024) throw bad('key ID is too long');
  // eslint-disable-next-line no-control-regex -- key IDs end up in logs
  if (/[\x00-\x1f\x7f]/.test(fields.keyId)) throw bad('key ID must not contain control characters');
  if (fields.principals.length === 0) throw bad('a certificate needs at least one principal (an empty list means "anyone" to sshd)');
  if (fields.principals.length > MAX_PRINCIPALS) throw bad(`at most ${MAX_PRINCIPALS} principals`);
  const seen = new Set<string>();
  for (const p of fields.principals) {
    const problem = principalProblem(p);
    if (problem !== undefined) throw bad(`principal ${show(p)} ${problem}`);
    if (seen.has(p)) throw bad(`principal ${show(p)} is listed twice`);
    seen.add(p);
  }
  for (const t of [fields.validAfter, fields.validBefore]) {
    if (typeof t !== 'bigint' || t < 0n || t > UINT64_MAX) throw bad('validity times must be uint64 seconds');
  }
  if (fields.validAfter >= fields.validBefore) throw bad('validAfter must be before validBefore');
  for (const [name, value] of Object.entries(fields.criticalOptions)) {
    if (fields.type === 'host') throw bad('host certificates carry no critical options');
    if (!DEFAULT_KNOWN_CRITICAL_OPTIONS.includes(name)) throw bad(`unknown critical option ${show(name)}: sshd would refuse the certificate`);
    if (name === 'source-address') parseCidrList(value);
    if (name === 'force-command' && value === '') throw bad('force-command must not be empty');
  }
  if (fields.nonce !== undefined && fields.nonce.length < 16) throw bad('nonce must be at least 16 bytes');
  return key;
}

/**
 * Signs a certificate with a CA private key (ed25519, ECDSA, or RSA with rsa-sha2-512). Fields are
 * validated first and encoded in one buffer. The fields returned are the ones encoded (copies; the byte
 * fields are views of the blob); a caller that must not trust the signer re-reads the blob, as the CA's
 * post-sign check does (ca/post-sign-check.ts).
 */
export function signCertificate(fields: CertificateFields, caKey: KeyObject, comment = ''): Certificate {
  if (caKey.type !== 'private') throw new AirlockError('bad_request', 'the CA key must be a private key');
  // publicKeyFromKeyObject only yields plain key types, so the CA key can never be a certificate.
  const caPub = publicKeyFromKeyObject(caKey);
  assertAcceptableKey(caPub);
  const key = validateFields(fields);
  const certType = certTypeFor(key.type);
  const criticalOptions = sortedOptions(fields.criticalOptions, 'critical option');
  const extensions = sortedOptions(fields.extensions, 'extension');
  // The key's fields follow its type name in its (validated, re-encoded) blob.
  const keyParts = key.blob.subarray(4 + key.type.length);
  // An upper bound of the encoded size, so that the writer never grows: UTF-8 takes at most 3 bytes per
  // code unit, the signature blob is at most 40 bytes longer than the CA key blob, 64 bytes of lengths and numbers.
  let textUnits = certType.length + fields.keyId.length;
  for (const p of fields.principals) textUnits += 4 + p.length;
  for (const [n, v] of criticalOptions) textUnits += 12 + n.length + v.length;
  for (const [n, v] of extensions) textUnits += 12 + n.length + v.length;
  const nonceLength = fields.nonce?.length ?? NONCE_BYTES;
  const w = new SshWriter(3 * textUnits + keyParts.length + nonceLength + 2 * caPub.blob.length + 128);
  w.string(certType);
  const nonceAt = w.length + 4;
  if (fields.nonce !== undefined) w.string(fields.nonce);
  else pooledRandomFill(w.uint32(NONCE_BYTES).space(NONCE_BYTES));
  w.raw(keyParts).uint64(fields.serial).uint32(fields.type === 'user' ? CERT_TYPE_USER : CERT_TYPE_HOST).string(fields.keyId);
  const principals = w.openString();
  for (const p of fields.principals) w.string(p);
  w.closeString(principals);
  w.uint64(fields.validAfter).uint64(fields.validBefore);
  writeOptions(w, criticalOptions);
  writeOptions(w, extensions);
  w.uint32(0).string(caPub.blob);
  const signedLength = w.length;
  const signature = signSsh(caKey, w.toBuffer(), 'rsa-sha2-512');
  const blob = w.string(signature).toBuffer();
  return {
    type: fields.type,
    publicKey: key,
    serial: fields.serial,
    keyId: fields.keyId,
    principals: [...fields.principals],
    validAfter: fields.validAfter,
    validBefore: fields.validBefore,
    criticalOptions: { ...fields.criticalOptions },
    extensions: { ...fields.extensions },
    nonce: blob.subarray(nonceAt, nonceAt + nonceLength),
    certType,
    blob,
    // A view of the blob, like the other byte fields: the CA key's cached blob stays out of the caller's hands.
    signatureKey: { ...caPub, blob: blob.subarray(signedLength - caPub.blob.length, signedLength) },
    signature: blob.subarray(signedLength + 4),
    signedData: blob.subarray(0, signedLength),
    comment,
  };
}

/** Human-readable UTC time of a certificate timestamp. */
function showTime(t: bigint): string {
  if (t === FOREVER) return 'forever';
  if (t > 8640000000000n) return `${t}`;
  return new Date(Number(t) * 1000).toISOString().replace('.000Z', 'Z');
}

/**
 * Verifies a certificate for login (user) or host authentication; throws
 * AirlockError('invalid_certificate', reason) on the first problem. The checks follow sshd's
 * (sshkey_cert_check_authority, auth2-pubkey.c) plus Airlock's own: no empty principal list, no
 * weak keys, source-address fails closed.
 */
export function verifyCertificate(cert: Certificate, opts: VerifyCertificateOptions): void {
  // Re-parse the blob: the fields of the object passed in may have been changed; the blob is signed.
  verifyParsedCertificate(parseCertificateBlob(cert.blob), opts);
}

/**
 * verifyCertificate for a certificate the caller has just read with parseCertificateBlob itself and
 * not changed (the CA's post-sign check, which compares the same parse with its plan): saves a parse.
 */
export function verifyParsedCertificate(c: Certificate, opts: VerifyCertificateOptions): void {
  if (c.type !== opts.type) {
    throw invalid(`this is a ${c.type} certificate but a ${opts.type} certificate is required`);
  }
  if (!opts.trustedCaBlobs.some((b) => b.equals(c.signatureKey.blob))) {
    throw invalid(`certificate is signed by an untrusted CA (${fingerprintSha256(c.signatureKey.blob)})`);
  }
  try {
    assertAcceptableKey(c.signatureKey);
  } catch (err) {
    asCertError(err, 'CA key');
  }
  const sig = parseSignatureBlob(c.signature, 'invalid_certificate');
  if (sig.algorithm === 'ssh-rsa') throw invalid('certificate is signed with ssh-rsa (SHA-1), which is not accepted');
  const matches = c.signatureKey.type === 'ssh-rsa' ? sig.algorithm === 'rsa-sha2-256' || sig.algorithm === 'rsa-sha2-512' : sig.algorithm === c.signatureKey.type;
  if (!matches) {
    throw invalid(`certificate signature algorithm ${show(sig.algorithm)} does not match the CA key type ${c.signatureKey.type}`);
  }
  const signed = opts.signatureCheck !== undefined ? opts.signatureCheck(c.signedData, c.signature) : verifyParsedSignature(c.signatureKey, c.signedData, sig);
  if (!signed) throw invalid('certificate signature is invalid');
  try {
    assertAcceptableKey(c.publicKey);
  } catch (err) {
    asCertError(err, 'certified key');
  }
  if (opts.now < c.validAfter) throw invalid(`certificate is not yet valid (valid from ${showTime(c.validAfter)})`);
  if (opts.now >= c.validBefore) throw invalid(`certificate has expired (valid until ${showTime(c.validBefore)})`);
  if (c.principals.length === 0) {
    throw invalid('certificate lists no principals; sshd would accept it for any name, so it is refused');
  }
  for (const p of c.principals) {
    const problem = principalProblem(p);
    if (problem !== undefined) throw invalid(`certificate principal ${show(p)} ${problem}`);
  }
  if (opts.principal !== undefined && !c.principals.includes(opts.principal)) {
    throw invalid(`principal ${show(opts.principal)} is not listed in the certificate`);
  }
  const known = opts.knownCriticalOptions ?? DEFAULT_KNOWN_CRITICAL_OPTIONS;
  for (const name of Object.keys(c.criticalOptions)) {
    if (!known.includes(name)) throw invalid(`certificate has unknown critical option ${show(name)}`);
  }
  const sourceAddress = c.criticalOptions['source-address'];
  if (sourceAddress !== undefined) {
    let blocks;
    try {
      blocks = parseCidrList(sourceAddress);
    } catch (err) {
      return asCertError(err, 'certificate source-address is malformed');
    }
    if (opts.sourceAddress === undefined) {
      if (opts.ignoreSourceAddress !== true) {
        throw invalid(`certificate is restricted to source-address ${show(sourceAddress)} but no client address was given to check`);
      }
    } else {
      let allowed: boolean;
      try {
        allowed = cidrListContains(blocks, opts.sourceAddress);
      } catch (err) {
        return asCertError(err, 'client address');
      }
      if (!allowed) throw invalid(`client address ${show(opts.sourceAddress)} is not allowed by the certificate's source-address ${show(sourceAddress)}`);
    }
  }
}
