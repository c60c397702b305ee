/**
 * The "drunken bishop" random art that `ssh-keygen -l -v` prints, for the SHA-256 fingerprint. A
 * transcription of OpenSSH's fingerprint_randomart (sshkey.c) so the pictures are byte-identical:
 * a 17×9 field, four 2-bit moves per digest byte, walls clamp, start `S` and end `E`.
 */
import { sha256Digest } from './fingerprint.ts';
import type { KeyType, PublicKey } from './keys.ts';

const FLDBASE = 8;
const FLDSIZE_Y = FLDBASE + 1;
const FLDSIZE_X = FLDBASE * 2 + 1;
const AUGMENTATION = ' .o+=*BOX@%&#/^SE';

/** OpenSSH's short key type names (sshkey_type). */
const TYPE_LABEL: Record<KeyType, string> = {
  'ssh-ed25519': 'ED25519',
  'ecdsa-sha2-nistp256': 'ECDSA',
  'ecdsa-sha2-nistp384': 'ECDSA',
  'ecdsa-sha2-nistp521': 'ECDSA',
  'ssh-rsa': 'RSA',
};

/** A frame line with `label` centred the way OpenSSH does it (left-biased, truncated like snprintf). */
function frame(label: string): string {
  const len = label.length;
  const left = Math.floor((FLDSIZE_X - len) / 2);
  let out = '+' + '-'.repeat(Math.max(0, left)) + label;
  out += '-'.repeat(Math.max(0, FLDSIZE_X - Math.max(0, left) - len));
  return out + '+';
}

/** snprintf into a buffer of FLDSIZE_X bytes keeps at most FLDSIZE_X - 1 characters. */
function snprintfTitle(s: string): string {
  return s.slice(0, FLDSIZE_X - 1);
}

/** The random art of a digest, titled with the key label and the hash name. */
export function randomartOfDigest(digest: Buffer, typeLabel: string, bits: number, hashName: string): string {
  const field: number[][] = Array.from({ length: FLDSIZE_X }, () => new Array<number>(FLDSIZE_Y).fill(0));
  const len = AUGMENTATION.length - 1;
  let x = Math.floor(FLDSIZE_X / 2);
  let y = Math.floor(FLDSIZE_Y / 2);
  for (const byte of digest) {
    let input = byte;
    for (let b = 0; b < 4; b++) {
      x += input & 0x1 ? 1 : -1;
      y += input & 0x2 ? 1 : -1;
      x = Math.min(Math.max(x, 0), FLDSIZE_X - 1);
      y = Math.min(Math.max(y, 0), FLDSIZE_Y - 1);
      const column = field[x]!;
      if (column[y]! < len - 2) column[y]!++;
      input >>= 2;
    }
  }
  field[Math.floor(FLDSIZE_X / 2)]![Math.floor(FLDSIZE_Y / 2)] = len - 1;
  field[x]![y] = len;

  // OpenSSH: if "[TYPE BITS]" does not fit the 17-byte buffer it falls back to "[TYPE]".
  const full = `[${typeLabel} ${bits}]`;
  const title = snprintfTitle(full.length > FLDSIZE_X ? `[${typeLabel}]` : full);
  const hash = snprintfTitle(`[${hashName}]`);

  const lines = [frame(title)];
  for (let row = 0; row < FLDSIZE_Y; row++) {
    let line = '|';
    for (let col = 0; col < FLDSIZE_X; col++) line += AUGMENTATION[Math.min(field[col]![row]!, len)];
    lines.push(line + '|');
  }
  lines.push(frame(hash));
  return lines.join('\n');
}

/** The SHA-256 random art of a key, byte-identical to `ssh-keygen -l -v -f key.pub` (without a final newline). */
export function randomart(pk: PublicKey): string {
  return randomartOfDigest(sha256Digest(pk.blob), TYPE_LABEL[pk.type], pk.bits, 'SHA256');
}
