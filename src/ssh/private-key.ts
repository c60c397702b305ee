/**
 * Unencrypted OpenSSH private keys (`-----BEGIN OPENSSH PRIVATE KEY-----`, the openssh-key-v1 format
 * of OpenSSH's PROTOCOL.key and sshkey.c): written for ed25519 (and ECDSA/RSA), read for all three.
 * Encrypted keys are refused with a clear message: Airlock never asks for a passphrase.
 */
import { createPrivateKey, randomBytes, type JsonWebKey, type KeyObject } from 'node:crypto';
import { AirlockError } from '../errors.ts';
import { ecdsaCurve, isKeyType, parsePublicKeyBlob, publicKeyFromKeyObject, type KeyType } from './keys.ts';
import { signSsh, verifySsh } from './signature.ts';
import { SshReader, SshWriter } from './wire.ts';

const AUTH_MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');
const BEGIN = '-----BEGIN OPENSSH PRIVATE KEY-----';
const END = '-----END OPENSSH PRIVATE KEY-----';
/** The cipher "none" has a block size of 8 (cipher.c), which sets the padding. */
const BLOCK_SIZE = 8;
const LINE_LENGTH = 70;
const MAX_TEXT = 64 * 1024;

function invalid(message: string): AirlockError {
  return new AirlockError('invalid_key', message);
}

function b64u(b: Buffer): string {
  return b.toString('base64url');
}

function fromB64u(s: string | undefined): Buffer {
  return Buffer.from(s ?? '', 'base64url');
}

function leftPad(b: Buffer, n: number): Buffer {
  return b.length >= n ? b : Buffer.concat([Buffer.alloc(n - b.length), b]);
}

/**
 * DER for importing a private key from its secret alone; the public key is then derived and compared
 * with the stored one (parseOpenSshPrivateKey). Why not JWK with the stored public part: Node 24.22 and
 * 26 refuse a JWK whose public part does not match, with a bare "Invalid JWK" that cannot say which file
 * is wrong, and older Nodes accept it; this gives the same refusal, with the same words, on every Node.
 * Ed25519: PKCS#8 (RFC 8410) wrapping the 32-byte seed. ECDSA: SEC1 ECPrivateKey (RFC 5915) without
 * its optional public key, naming the curve by OID.
 */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** PKCS#8 DER (RFC 8410 §7) of a raw 32-byte Ed25519 seed, for createPrivateKey({ format: 'der', type: 'pkcs8' }). */
export function ed25519SeedPkcs8(seed: Buffer): Buffer {
  return Buffer.concat([ED25519_PKCS8_PREFIX, seed]);
}
const EC_CURVE_OID: Record<string, string> = {
  nistp256: '06082a8648ce3d030107',
  nistp384: '06052b81040022',
  nistp521: '06052b81040023',
};

function ecPrivateKeyDer(sshCurve: string, d: Buffer): Buffer {
  const oid = Buffer.from(EC_CURVE_OID[sshCurve]!, 'hex');
  // Every part is shorter than 128 bytes (d is at most 66 for P-521), so each length is one byte.
  const body = Buffer.concat([Buffer.from([0x02, 0x01, 0x01, 0x04, d.length]), d, Buffer.from([0xa0, oid.length]), oid]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

function toBigInt(b: Buffer): bigint {
  return b.length === 0 ? 0n : BigInt(`0x${b.toString('hex')}`);
}

function fromBigInt(v: bigint): Buffer {
  let hex = v.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  return Buffer.from(hex, 'hex');
}

/** The type-specific private fields, in the order sshkey_private_serialize writes them. */
function privateParts(key: KeyObject, type: KeyType): Buffer {
  const jwk = key.export({ format: 'jwk' });
  const w = new SshWriter();
  if (type === 'ssh-ed25519') {
    const pk = fromB64u(jwk.x);
    // OpenSSH stores the 64-byte "secret key" of the reference implementation: seed || public key.
    w.string(pk).string(Buffer.concat([fromB64u(jwk.d), pk]));
  } else if (type === 'ssh-rsa') {
    w.mpint(fromB64u(jwk.n)).mpint(fromB64u(jwk.e)).mpint(fromB64u(jwk.d)).mpint(fromB64u(jwk.qi)).mpint(fromB64u(jwk.p)).mpint(fromB64u(jwk.q));
  } else {
    const curve = ecdsaCurve(type)!;
    const q = Buffer.concat([Buffer.from([4]), leftPad(fromB64u(jwk.x), curve.fieldBytes), leftPad(fromB64u(jwk.y), curve.fieldBytes)]);
    w.string(curve.sshName).string(q).mpint(fromB64u(jwk.d));
  }
  return w.toBuffer();
}

/**
 * Writes an unencrypted OpenSSH private key that `ssh-keygen -y -f` and `ssh` read: cipher "none",
 * random matching check integers, padding 1, 2, 3… and base64 in 70-character lines.
 */
export function formatOpenSshPrivateKey(key: KeyObject, comment: string): string {
  if (key.type !== 'private') throw new AirlockError('bad_request', 'expected a private key');
  const pub = publicKeyFromKeyObject(key);
  const check = randomBytes(4);
  const inner = new SshWriter().raw(check).raw(check).string(pub.type).raw(privateParts(key, pub.type)).string(comment);
  const unpadded = inner.toBuffer();
  const padLength = (BLOCK_SIZE - (unpadded.length % BLOCK_SIZE)) % BLOCK_SIZE;
  const padding = Buffer.from(Array.from({ length: padLength }, (_, i) => i + 1));
  const body = new SshWriter()
    .raw(AUTH_MAGIC)
    .string('none')
    .string('none')
    .string(Buffer.alloc(0))
    .uint32(1)
    .string(pub.blob)
    .string(Buffer.concat([unpadded, padding]))
    .toBuffer();
  const b64 = body.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += LINE_LENGTH) lines.push(b64.slice(i, i + LINE_LENGTH));
  return `${BEGIN}\n${lines.join('\n')}\n${END}\n`;
}

function decodeArmor(text: string): Buffer {
  if (typeof text !== 'string') throw invalid('private key must be text');
  if (text.length > MAX_TEXT) throw invalid('private key text is too long');
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  const begin = lines.indexOf(BEGIN);
  const end = lines.indexOf(END);
  if (begin < 0 || end < begin) {
    if (/-----BEGIN (RSA |EC |DSA |ENCRYPTED )?PRIVATE KEY-----/.test(text)) {
      throw invalid('this is a PEM/PKCS#8 private key, not an OpenSSH one; convert it with ssh-keygen -p -f <file>');
    }
    throw invalid(`not an OpenSSH private key (expected ${BEGIN})`);
  }
  if (lines.slice(0, begin).some((l) => l !== '') || lines.slice(end + 1).some((l) => l !== '')) {
    throw invalid('unexpected text around the OpenSSH private key');
  }
  const b64 = lines.slice(begin + 1, end).join('');
  if (b64.length === 0 || b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw invalid('private key body is not valid base64');
  return Buffer.from(b64, 'base64');
}

/** Reads the private fields of one key: its node:crypto key and the public blob those fields imply. */
function readPrivate(r: SshReader, type: KeyType): { key: KeyObject; publicBlob: Buffer } {
  let input: { key: JsonWebKey; format: 'jwk' } | { key: Buffer; format: 'der'; type: 'pkcs8' | 'sec1' };
  const pub = new SshWriter().string(type);
  if (type === 'ssh-ed25519') {
    const pk = r.string('ed25519 public key');
    const sk = r.string('ed25519 secret key');
    if (pk.length !== 32 || sk.length !== 64) throw r.fail('ed25519 key has the wrong length');
    if (!sk.subarray(32).equals(pk)) throw r.fail('ed25519 secret key does not contain its public key');
    input = { key: ed25519SeedPkcs8(sk.subarray(0, 32)), format: 'der', type: 'pkcs8' };
    pub.string(pk);
  } else if (type === 'ssh-rsa') {
    const n = r.mpint('n', 2049);
    const e = r.mpint('e', 9);
    const d = r.mpint('d', 2049);
    const iqmp = r.mpint('iqmp', 2049);
    const p = r.mpint('p', 2049);
    const q = r.mpint('q', 2049);
    const [bp, bq, bd] = [toBigInt(p), toBigInt(q), toBigInt(d)];
    if (bp < 3n || bq < 3n || bp * bq !== toBigInt(n)) throw r.fail('RSA private key is inconsistent');
    const jwk: JsonWebKey = {
      kty: 'RSA',
      n: b64u(n),
      e: b64u(e),
      d: b64u(d),
      p: b64u(p),
      q: b64u(q),
      dp: b64u(fromBigInt(bd % (bp - 1n))),
      dq: b64u(fromBigInt(bd % (bq - 1n))),
      qi: b64u(iqmp),
    };
    input = { key: jwk, format: 'jwk' };
    pub.mpint(e).mpint(n);
  } else {
    const curve = ecdsaCurve(type)!;
    const curveName = r.text('curve name');
    if (curveName !== curve.sshName) throw r.fail(`curve ${JSON.stringify(curveName.slice(0, 32))} does not match ${type}`);
    const q = r.string('ECDSA point');
    const d = r.mpint('ECDSA private scalar', curve.fieldBytes + 1);
    if (q.length !== 1 + 2 * curve.fieldBytes || q[0] !== 4) throw r.fail('ECDSA point must be uncompressed');
    if (d.length > curve.fieldBytes) throw r.fail('ECDSA private scalar is too long');
    input = { key: ecPrivateKeyDer(curve.sshName, leftPad(d, curve.fieldBytes)), format: 'der', type: 'sec1' };
    pub.string(curve.sshName).string(q);
  }
  try {
    return { key: createPrivateKey(input), publicBlob: pub.toBuffer() };
  } catch {
    throw r.fail(`invalid ${type} private key`);
  }
}

/**
 * Reads an unencrypted OpenSSH private key (ed25519, ECDSA or RSA). The public key stored beside it
 * must be the one the private key derives: a mismatched file is refused rather than half-trusted.
 */
export function parseOpenSshPrivateKey(text: string): KeyObject {
  const body = decodeArmor(text);
  if (body.length < AUTH_MAGIC.length || !body.subarray(0, AUTH_MAGIC.length).equals(AUTH_MAGIC)) {
    throw invalid('not an openssh-key-v1 private key (bad magic)');
  }
  const r = new SshReader(body.subarray(AUTH_MAGIC.length), { code: 'invalid_key', what: 'private key' });
  const cipher = r.text('cipher name');
  const kdf = r.text('KDF name');
  r.string('KDF options');
  if (cipher !== 'none' || kdf !== 'none') {
    throw invalid('encrypted private keys are not supported here: give an unencrypted key (ssh-keygen -p -N "" -f <copy of the file>)');
  }
  const count = r.uint32();
  if (count !== 1) throw invalid(`private key file must hold exactly one key, not ${count}`);
  const publicBlob = Buffer.from(r.string('public key'));
  const section = r.string('private section');
  r.expectEnd('the private key file');
  if (section.length % BLOCK_SIZE !== 0) throw invalid('private section is not a whole number of blocks');
  const p = new SshReader(section, { code: 'invalid_key', what: 'private key' });
  const check1 = p.uint32();
  const check2 = p.uint32();
  if (check1 !== check2) throw invalid('private key check integers differ (corrupt file, or a wrong passphrase elsewhere)');
  const type = p.text('key type');
  if (!isKeyType(type)) throw invalid(`unsupported private key type ${JSON.stringify(type.slice(0, 64))}`);
  const { key, publicBlob: innerPublic } = readPrivate(p, type);
  p.text('comment');
  const padding = p.raw(p.remaining, 'padding');
  if (padding.length >= BLOCK_SIZE || padding.some((b, i) => b !== ((i + 1) & 0xff))) throw invalid('private key padding is malformed');
  if (!innerPublic.equals(publicBlob)) throw invalid('the public key in the file does not match the one in its private section');
  const pub = parsePublicKeyBlob(publicBlob);
  // A signature round trip proves the private fields belong to the public key (catches a wrong d,
  // a seed that does not derive the stated ed25519 key, an ECDSA point that is not d·G).
  const probe = Buffer.from('airlock private key consistency check');
  if (!publicKeyFromKeyObject(key).blob.equals(publicBlob) || !verifySsh(pub, probe, signSsh(key, probe))) {
    throw invalid('the private key does not match its public key');
  }
  return key;
}

/** The comment stored in an unencrypted OpenSSH private key. */
export function openSshPrivateKeyComment(text: string): string {
  const body = decodeArmor(text);
  const r = new SshReader(body.subarray(AUTH_MAGIC.length), { code: 'invalid_key', what: 'private key' });
  r.text();
  r.text();
  r.string();
  r.uint32();
  r.string();
  const p = new SshReader(r.string(), { code: 'invalid_key', what: 'private key' });
  p.uint32();
  p.uint32();
  const type = p.text();
  if (!isKeyType(type)) throw invalid('unsupported private key type');
  readPrivate(p, type);
  return p.text('comment');
}
