/**
 * OpenSSH public keys: the wire blobs of RFC 4253 §6.6 / RFC 5656 §3.1 / RFC 8709 §4 and the one-line
 * `type base64 comment` text of .pub files. Parsing is strict (canonical base64, exact lengths, points
 * on the curve, no trailing bytes) because these keys decide who logs in.
 */
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { AirlockError } from '../errors.ts';
import { SshReader, SshWriter } from './wire.ts';

/** The key types Airlock accepts. */
export type KeyType = 'ssh-ed25519' | 'ecdsa-sha2-nistp256' | 'ecdsa-sha2-nistp384' | 'ecdsa-sha2-nistp521' | 'ssh-rsa';

/** A plain (non-certificate) public key; `blob` is its SSH wire encoding and the source of truth. */
export interface PublicKey {
  type: KeyType;
  blob: Buffer;
  bits: number;
  comment: string;
}

/** The parameters of one ECDSA curve as SSH and JOSE name them. */
export interface EcdsaCurve {
  sshName: 'nistp256' | 'nistp384' | 'nistp521';
  jwkCrv: 'P-256' | 'P-384' | 'P-521';
  /** Bytes of one coordinate. */
  fieldBytes: number;
  bits: number;
  /** RFC 5656 §6.2.1: the hash that goes with the curve size. */
  hash: 'sha256' | 'sha384' | 'sha512';
}

const CURVES: Record<'ecdsa-sha2-nistp256' | 'ecdsa-sha2-nistp384' | 'ecdsa-sha2-nistp521', EcdsaCurve> = {
  'ecdsa-sha2-nistp256': { sshName: 'nistp256', jwkCrv: 'P-256', fieldBytes: 32, bits: 256, hash: 'sha256' },
  'ecdsa-sha2-nistp384': { sshName: 'nistp384', jwkCrv: 'P-384', fieldBytes: 48, bits: 384, hash: 'sha384' },
  'ecdsa-sha2-nistp521': { sshName: 'nistp521', jwkCrv: 'P-521', fieldBytes: 66, bits: 521, hash: 'sha512' },
};

/** Every accepted key type, strongest default first. */
export const KEY_TYPES: readonly KeyType[] = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa'];

/** OpenSSH refuses to load RSA keys under 1024 bits (SSH_RSA_MINIMUM_MODULUS_SIZE) or over 16384. */
const RSA_MIN_PARSE_BITS = 1024;
const RSA_MAX_BITS = 16384;
/** Below this an RSA key is refused as weak (NIST SP 800-131A; OpenSSH's own default is 3072). */
export const RSA_MIN_ACCEPT_BITS = 2048;
const MAX_LINE = 20000;

const HOW_TO_GENERATE = 'generate an ed25519 key with ssh-keygen -t ed25519';
const DSA_MESSAGE = `DSA keys are no longer accepted: OpenSSH disabled them by default in 7.0 and removed them in 10.0; ${HOW_TO_GENERATE}`;

/** Whether a string is one of the accepted key type names. */
export function isKeyType(s: string): s is KeyType {
  return (KEY_TYPES as readonly string[]).includes(s);
}

/** The ECDSA curve of an ecdsa key type, or undefined for other types. */
export function ecdsaCurve(type: KeyType): EcdsaCurve | undefined {
  return type === 'ssh-ed25519' || type === 'ssh-rsa' ? undefined : CURVES[type];
}

/** The bit length of an unsigned big-endian magnitude. */
export function bitLength(magnitude: Buffer): number {
  let i = 0;
  while (i < magnitude.length && magnitude[i] === 0) i++;
  if (i === magnitude.length) return 0;
  return (magnitude.length - i - 1) * 8 + (32 - Math.clz32(magnitude[i]!));
}

/**
 * Explains why a key type name that is not accepted is refused, or undefined if it is unknown. Shared
 * by the line parser and the blob parser so that both say the same thing.
 */
function refusedTypeReason(type: string): AirlockError | undefined {
  if (type === 'ssh-dss') return new AirlockError('weak_key', DSA_MESSAGE);
  if (type.endsWith('-cert-v01@openssh.com')) {
    return new AirlockError(
      'invalid_key',
      `this is an OpenSSH certificate (${type}), not a public key: give the plain public key (the .pub file without -cert)`,
    );
  }
  if (type.startsWith('sk-')) {
    return new AirlockError(
      'invalid_key',
      `security-key (FIDO) keys (${type}) are not supported here; ${HOW_TO_GENERATE}`,
    );
  }
  return undefined;
}

/** The error for a key type name that is neither accepted nor specifically refused. */
function unknownType(type: string): AirlockError {
  const shown = type.length > 64 ? `${type.slice(0, 64)}…` : type;
  return new AirlockError(
    'invalid_key',
    `unsupported key type ${JSON.stringify(shown)}: use ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa`,
  );
}

/**
 * Reads the type-specific fields of a public key (after its type name, or after a certificate's
 * nonce) and returns the plain key blob they make. Validates them: ed25519 length, curve name and
 * point, RSA exponent and modulus size.
 */
export function readPublicKeyParts(r: SshReader, type: KeyType): { blob: Buffer; bits: number } {
  if (type === 'ssh-ed25519') {
    const pk = r.string('ed25519 public key');
    if (pk.length !== 32) throw r.fail(`ed25519 public key must be 32 bytes, got ${pk.length}`);
    return { blob: new SshWriter().string(type).string(pk).toBuffer(), bits: 256 };
  }
  if (type === 'ssh-rsa') {
    const e = r.mpint('RSA exponent', 9);
    const n = r.mpint('RSA modulus', RSA_MAX_BITS / 8 + 1);
    const bits = bitLength(n);
    // A tiny or even exponent is not RSA; over 64 bits is what OpenSSL refuses for large moduli.
    if (bitLength(e) < 2 || bitLength(e) > 64 || (e[e.length - 1]! & 1) === 0) throw r.fail('invalid RSA public exponent');
    if ((n[n.length - 1]! & 1) === 0) throw r.fail('invalid RSA modulus (even)');
    if (bits < RSA_MIN_PARSE_BITS) {
      throw new AirlockError('weak_key', `RSA key of ${bits} bits is far too short: at least ${RSA_MIN_ACCEPT_BITS} bits are required; ${HOW_TO_GENERATE}`);
    }
    if (bits > RSA_MAX_BITS) throw r.fail(`RSA key of ${bits} bits is larger than the ${RSA_MAX_BITS}-bit maximum`);
    const blob = new SshWriter().string(type).mpint(e).mpint(n).toBuffer();
    try {
      createPublicKey({ key: { kty: 'RSA', n: n.toString('base64url'), e: e.toString('base64url') }, format: 'jwk' });
    } catch {
      throw r.fail('invalid RSA public key');
    }
    return { blob, bits };
  }
  const curve = CURVES[type];
  const curveName = r.text('curve name');
  if (curveName !== curve.sshName) {
    throw r.fail(`curve ${JSON.stringify(curveName.slice(0, 32))} inside the key does not match its type ${type}`);
  }
  const q = r.string('ECDSA point');
  if (q.length !== 1 + 2 * curve.fieldBytes || q[0] !== 0x04) {
    throw r.fail(`ECDSA point must be uncompressed and ${1 + 2 * curve.fieldBytes} bytes for ${curve.sshName}`);
  }
  try {
    createPublicKey({ key: ecJwk(curve, q), format: 'jwk' });
  } catch {
    // OpenSSL checks that the point lies on the curve (and is not the point at infinity).
    throw r.fail(`ECDSA point is not on the ${curve.sshName} curve`);
  }
  return { blob: new SshWriter().string(type).string(curve.sshName).string(q).toBuffer(), bits: curve.bits };
}

function ecJwk(curve: EcdsaCurve, q: Buffer): JsonWebKey {
  const x = q.subarray(1, 1 + curve.fieldBytes);
  const y = q.subarray(1 + curve.fieldBytes);
  return { kty: 'EC', crv: curve.jwkCrv, x: x.toString('base64url'), y: y.toString('base64url') };
}

/** Parses a plain public key blob (SSH wire format). */
export function parsePublicKeyBlob(blob: Buffer): PublicKey {
  const r = new SshReader(blob, { code: 'invalid_key', what: 'public key' });
  const type = r.text('key type');
  if (!isKeyType(type)) throw refusedTypeReason(type) ?? unknownType(type);
  const parts = readPublicKeyParts(r, type);
  r.expectEnd('the public key');
  // parts.blob is a new encoding of what was read, not a view of `blob`: the key owns it.
  return { type, blob: parts.blob, bits: parts.bits, comment: '' };
}

const BASE64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Decodes strict, canonical standard base64 (padding required, nothing else allowed). */
export function decodeBase64Strict(s: string, what: string, code: 'invalid_key' | 'invalid_certificate' | 'bad_request'): Buffer {
  if (s.length === 0 || s.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(s)) {
    throw new AirlockError(code, `${what} is not valid base64`);
  }
  // Canonical means no other text decodes to the same bytes: with padding, the bits the last character
  // carries beyond the data must be zero (checked here instead of encoding the bytes again to compare).
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  if (pad > 0 && (BASE64_ALPHABET.indexOf(s[s.length - 1 - pad]!) & (pad === 2 ? 0x0f : 0x03)) !== 0) {
    throw new AirlockError(code, `${what} is not canonical base64`);
  }
  return Buffer.from(s, 'base64');
}

/** Splits a one-line `type base64 [comment]` text, refusing multi-line input and control characters. */
export function splitKeyLine(
  input: string,
  what: string,
  code: 'invalid_key' | 'invalid_certificate',
): { type: string; data: string; comment: string } {
  if (input.length > MAX_LINE) throw new AirlockError(code, `${what} is too long (${input.length} characters)`);
  const s = input.replace(/^[\s\uFEFF]+|\s+$/g, '');
  if (s === '') throw new AirlockError(code, `${what} is empty`);
  if (s.startsWith('-----BEGIN') || s.startsWith('---- BEGIN SSH2')) {
    if (/PRIVATE KEY/.test(s.slice(0, 64))) {
      throw new AirlockError(code, `this is a private key: never share it; give the public key (the .pub file) instead`);
    }
    throw new AirlockError(code, `${what} must be in OpenSSH one-line format ("type base64 comment"); convert it with ssh-keygen -i -f <file>`);
  }
  if (/[\r\n]/.test(s)) throw new AirlockError(code, `${what} must be a single line (one key per line)`);
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(s)) throw new AirlockError(code, `${what} contains control characters`);
  const m = /^(\S+)[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(s);
  if (m === null) throw new AirlockError(code, `${what} must look like "type base64 [comment]"`);
  return { type: m[1]!, data: m[2]!, comment: m[3] ?? '' };
}

/** Whether the first word of a line looks like authorized_keys options rather than a key type. */
function looksLikeOptions(first: string): boolean {
  return /[=,"]/.test(first) || /^(restrict|no-[a-z0-9-]+|cert-authority|agent-forwarding|port-forwarding|pty|user-rc|x11-forwarding|no-touch-required|verify-required)$/.test(first);
}

/** Parses an OpenSSH public key line (`type base64 [comment]`, as in a .pub file). */
export function parsePublicKey(line: string): PublicKey {
  if (typeof line !== 'string') throw new AirlockError('invalid_key', 'public key must be text');
  const first = line.trim().split(/[ \t]/, 1)[0] ?? '';
  const refused = refusedTypeReason(first);
  if (refused !== undefined) throw refused;
  if (!isKeyType(first) && looksLikeOptions(first)) {
    throw new AirlockError(
      'invalid_key',
      'authorized_keys options before the key are not accepted: give only the key itself ("ssh-ed25519 AAAA... comment")',
    );
  }
  const { type, data, comment } = splitKeyLine(line, 'public key', 'invalid_key');
  if (!isKeyType(type)) throw unknownType(type);
  const blob = decodeBase64Strict(data, 'public key data', 'invalid_key');
  const pk = parsePublicKeyBlob(blob);
  if (pk.type !== type) throw new AirlockError('invalid_key', `the line says ${type} but the key data is ${pk.type}`);
  return { ...pk, comment };
}

/** Formats a public key as an OpenSSH one-line text (`type base64 [comment]`). */
export function formatPublicKey(key: PublicKey, comment?: string): string {
  const c = comment ?? key.comment;
  // A newline in a comment would smuggle a second line into authorized_keys files.
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/[\x00-\x1f\x7f]/.test(c)) throw new AirlockError('bad_request', 'key comment must not contain control characters');
  const base = `${key.type} ${key.blob.toString('base64')}`;
  return c === '' ? base : `${base} ${c}`;
}

// KeyObjects are immutable, so what is derived from one can be kept with it: the CA signs and
// verifies with the same few keys on every issuance, and deriving them again (JWK export and import)
// cost more than the Ed25519 signature itself.
const publicKeyOfKeyObject = new WeakMap<KeyObject, PublicKey>();
const KEY_OBJECT_CACHE_LIMIT = 64;
const keyObjectOfBlob = new Map<string, KeyObject>();
let lastKeyObject: { blob: Buffer; key: KeyObject } | undefined;

/** Builds a PublicKey from a node:crypto key (a private key gives its public half). */
export function publicKeyFromKeyObject(k: KeyObject, comment = ''): PublicKey {
  let pk = publicKeyOfKeyObject.get(k);
  if (pk === undefined) {
    pk = derivePublicKey(k);
    publicKeyOfKeyObject.set(k, pk);
  }
  return { ...pk, comment };
}

function derivePublicKey(k: KeyObject): PublicKey {
  const pub = k.type === 'private' ? createPublicKey(k) : k;
  if (pub.type !== 'public') throw new AirlockError('invalid_key', 'expected an asymmetric key');
  const jwk = pub.export({ format: 'jwk' });
  const w = new SshWriter();
  if (pub.asymmetricKeyType === 'ed25519') {
    w.string('ssh-ed25519').string(Buffer.from(jwk.x ?? '', 'base64url'));
  } else if (pub.asymmetricKeyType === 'ec') {
    const entry = Object.entries(CURVES).find(([, c]) => c.jwkCrv === jwk.crv);
    if (entry === undefined) throw new AirlockError('invalid_key', `unsupported ECDSA curve ${jwk.crv}`);
    const [type, curve] = entry;
    const x = Buffer.from(jwk.x ?? '', 'base64url');
    const y = Buffer.from(jwk.y ?? '', 'base64url');
    w.string(type).string(curve.sshName).string(Buffer.concat([Buffer.from([4]), x, y]));
  } else if (pub.asymmetricKeyType === 'rsa') {
    w.string('ssh-rsa').mpint(Buffer.from(jwk.e ?? '', 'base64url')).mpint(Buffer.from(jwk.n ?? '', 'base64url'));
  } else {
    throw new AirlockError('invalid_key', `unsupported key algorithm ${pub.asymmetricKeyType}`);
  }
  return parsePublicKeyBlob(w.toBuffer());
}

/**
 * The node:crypto public key of a PublicKey (decoded again from its blob). The last few keys are
 * kept by blob (a bounded cache: the gateway also verifies keys that clients offer).
 */
export function keyObjectFromPublicKey(pk: PublicKey): KeyObject {
  // The CA verifies with the same key again and again: comparing with the last key found is cheaper
  // than making its map key.
  if (lastKeyObject !== undefined && lastKeyObject.blob.equals(pk.blob)) return lastKeyObject.key;
  const id = pk.blob.toString('base64');
  let key = keyObjectOfBlob.get(id);
  if (key === undefined) {
    key = decodeKeyObject(pk);
    if (keyObjectOfBlob.size >= KEY_OBJECT_CACHE_LIMIT) keyObjectOfBlob.delete(keyObjectOfBlob.keys().next().value!);
    keyObjectOfBlob.set(id, key);
  }
  // A copy of the blob: the caller's buffer may change after this call.
  lastKeyObject = { blob: Buffer.from(pk.blob), key };
  return key;
}

function decodeKeyObject(pk: PublicKey): KeyObject {
  const r = new SshReader(pk.blob, { code: 'invalid_key', what: 'public key' });
  const type = r.text('key type');
  if (!isKeyType(type)) throw refusedTypeReason(type) ?? unknownType(type);
  let jwk: JsonWebKey;
  if (type === 'ssh-ed25519') {
    jwk = { kty: 'OKP', crv: 'Ed25519', x: r.string().toString('base64url') };
  } else if (type === 'ssh-rsa') {
    const e = r.mpint();
    const n = r.mpint();
    jwk = { kty: 'RSA', n: n.toString('base64url'), e: e.toString('base64url') };
  } else {
    const curve = CURVES[type];
    r.string();
    const q = r.string();
    if (q.length !== 1 + 2 * curve.fieldBytes) throw r.fail('ECDSA point has the wrong length');
    jwk = ecJwk(curve, q);
  }
  r.expectEnd('the public key');
  try {
    return createPublicKey({ key: jwk, format: 'jwk' });
  } catch {
    throw new AirlockError('invalid_key', `public key: invalid ${type} key`);
  }
}

/**
 * Refuses keys too weak to accept: DSA (1024-bit, SHA-1 only) and RSA under 2048 bits. Call it
 * wherever a user registers a key or the CA is asked to certify one.
 */
export function assertAcceptableKey(pk: { type: string; bits: number }): void {
  if (pk.type === 'ssh-dss') throw new AirlockError('weak_key', DSA_MESSAGE);
  if (!isKeyType(pk.type)) throw refusedTypeReason(pk.type) ?? unknownType(pk.type);
  if (pk.type === 'ssh-rsa' && pk.bits < RSA_MIN_ACCEPT_BITS) {
    throw new AirlockError(
      'weak_key',
      `RSA key of ${pk.bits} bits is too weak: at least ${RSA_MIN_ACCEPT_BITS} bits are required; ${HOW_TO_GENERATE} (or ssh-keygen -t rsa -b 3072)`,
      { details: { bits: pk.bits } },
    );
  }
}
