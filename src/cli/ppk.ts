/**
 * PuTTY's private key format, version 3, unencrypted (PuTTY manual, appendix C "PPK file format"):
 * text header lines, the public key blob and the private key blob in base64 (64 characters a line),
 * and `Private-MAC`, an HMAC-SHA-256 over algorithm, encryption, comment, public and private blob
 * (each as an SSH string); for an unencrypted file the MAC key is empty. PuTTY ≥ 0.75 reads version 3.
 * The private blob holds only what the public blob lacks: an Ed25519 key's 32-byte seed as a string,
 * an ECDSA key's private scalar as an mpint, an RSA key's d, p, q and iqmp as mpints.
 */
import { createHmac, type KeyObject } from 'node:crypto';
import { AirlockError } from '../errors.ts';
import { publicKeyFromKeyObject } from '../ssh/keys.ts';
import { SshWriter } from '../ssh/wire.ts';

const b64 = (s: string | undefined): Buffer => Buffer.from(s ?? '', 'base64url');

function privateBlob(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  const w = new SshWriter();
  switch (key.asymmetricKeyType) {
    case 'ed25519':
      // PuTTY writes the seed at its full 32 bytes, leading and trailing zero bytes included.
      return w.string(b64(jwk.d)).toBuffer();
    case 'ec':
      return w.mpint(b64(jwk.d)).toBuffer();
    case 'rsa':
      // PuTTY's order: d, p, q, iqmp (q^-1 mod p, which JWK calls qi).
      return w.mpint(b64(jwk.d)).mpint(b64(jwk.p)).mpint(b64(jwk.q)).mpint(b64(jwk.qi)).toBuffer();
    default:
      throw new AirlockError('invalid_key', `PuTTY key files for ${key.asymmetricKeyType ?? 'this'} keys are not supported.`);
  }
}

function lines(data: Buffer): string[] {
  const text = data.toString('base64');
  const out: string[] = [];
  for (let i = 0; i < text.length; i += 64) out.push(text.slice(i, i + 64));
  return out;
}

/** The PPK v3 text of a private key (unencrypted: the file must be kept private, mode 0600). */
export function formatPpk(privateKey: KeyObject, comment: string): string {
  if (privateKey.type !== 'private') throw new AirlockError('invalid_key', 'A PuTTY key file needs the private key.');
  // eslint-disable-next-line no-control-regex -- the comment is one header line
  if (/[\r\n\x00]/.test(comment)) throw new AirlockError('bad_request', 'The key comment must be one line.');
  const pub = publicKeyFromKeyObject(privateKey);
  const priv = privateBlob(privateKey);
  const encryption = 'none';
  const mac = createHmac('sha256', Buffer.alloc(0))
    .update(new SshWriter().string(pub.type).string(encryption).string(comment).string(pub.blob).string(priv).toBuffer())
    .digest('hex');
  const pubLines = lines(pub.blob);
  const privLines = lines(priv);
  return [
    `PuTTY-User-Key-File-3: ${pub.type}`,
    `Encryption: ${encryption}`,
    `Comment: ${comment}`,
    `Public-Lines: ${pubLines.length}`,
    ...pubLines,
    `Private-Lines: ${privLines.length}`,
    ...privLines,
    `Private-MAC: ${mac}`,
    '',
  ].join('\n');
}
