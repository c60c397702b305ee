/**
 * The SSH2 public-key file format (RFC 4716, "---- BEGIN SSH2 PUBLIC KEY ----"), which PuTTYgen's
 * "Save public key" and `puttygen -O public` write, and ssh.com tools use. Parsed into the same
 * PublicKey as an OpenSSH line, so that PuTTY users can register the file they actually have.
 * Pure and strict: header lines and continuations per §3.3, body in canonical base64 per §3.5.
 */
import { AirlockError } from '../errors.ts';
import { decodeBase64Strict, parsePublicKeyBlob, type PublicKey } from './keys.ts';

const BEGIN = '---- BEGIN SSH2 PUBLIC KEY ----';
const END = '---- END SSH2 PUBLIC KEY ----';
/** Far more than any real key file (RSA 16384 bits is ~3 KiB); bounds the work on hostile input. */
const MAX_BLOCK = 64 * 1024;
/** RFC 4716 §3.3: "The Header-tag MUST NOT be more than 64 8-bit bytes". */
const MAX_TAG = 64;

/** Whether the text contains an RFC 4716 public-key block. */
export function hasRfc4716Block(text: string): boolean {
  return text.includes(BEGIN);
}

/** Removes the quotes around a header value, as PuTTYgen writes the comment (`"a \"b\""`). */
function unquote(v: string): string {
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) return v.slice(1, -1).replace(/\\(["\\])/g, '$1');
  return v;
}

/** Parses the lines between BEGIN and END into the key; the `Comment` header becomes the comment. */
function parseBlock(lines: string[]): PublicKey {
  let comment = '';
  let i = 0;
  // Headers: "Tag: value", a value continued on the next line when the line ends in a backslash.
  while (i < lines.length && lines[i]!.includes(':')) {
    let line = lines[i++]!;
    while (line.endsWith('\\') && i < lines.length) line = line.slice(0, -1) + lines[i++]!;
    const colon = line.indexOf(':');
    const tag = line.slice(0, colon);
    if (tag.length === 0 || tag.length > MAX_TAG || !/^[\x21-\x39\x3b-\x7e]+$/.test(tag)) {
      throw new AirlockError('invalid_key', 'the SSH2 public key file has an invalid header line');
    }
    if (tag.toLowerCase() === 'comment') comment = unquote(line.slice(colon + 1).trim());
  }
  const body = lines.slice(i).join('');
  if (body === '') throw new AirlockError('invalid_key', 'the SSH2 public key file holds no key data');
  const key = parsePublicKeyBlob(decodeBase64Strict(body, 'the SSH2 public key data', 'invalid_key'));
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/[\x00-\x1f\x7f]/.test(comment)) throw new AirlockError('invalid_key', 'the SSH2 public key comment contains control characters');
  return { ...key, comment };
}

/**
 * Every RFC 4716 public key in `text`, in order, and the text outside the blocks (for callers that
 * also accept OpenSSH lines there). Throws AirlockError('invalid_key') on a malformed block.
 */
export function parseRfc4716PublicKeys(text: string): { keys: PublicKey[]; rest: string } {
  if (text.length > MAX_BLOCK * 16) throw new AirlockError('invalid_key', 'the key file is too long');
  const keys: PublicKey[] = [];
  const rest: string[] = [];
  const lines = text.split(/\r\n|\r|\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line !== BEGIN) {
      rest.push(lines[i]!);
      continue;
    }
    const block: string[] = [];
    let size = 0;
    let ended = false;
    for (i++; i < lines.length; i++) {
      const l = lines[i]!.trim();
      if (l === END) {
        ended = true;
        break;
      }
      size += l.length;
      if (size > MAX_BLOCK) throw new AirlockError('invalid_key', 'the SSH2 public key block is too long');
      if (l !== '') block.push(l);
    }
    if (!ended) throw new AirlockError('invalid_key', `the SSH2 public key file has no "${END}" line`);
    keys.push(parseBlock(block));
  }
  return { keys, rest: rest.join('\n') };
}

/** Parses text holding exactly one RFC 4716 public key. */
export function parseRfc4716PublicKey(text: string): PublicKey {
  const { keys, rest } = parseRfc4716PublicKeys(text);
  if (keys.length !== 1 || rest.trim() !== '') throw new AirlockError('invalid_key', 'give exactly one public key');
  return keys[0]!;
}
