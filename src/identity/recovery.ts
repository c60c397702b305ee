/**
 * Single-use recovery codes: the second factor for someone who lost their authenticator. Shown once
 * at enrolment, stored only as hashes, consumed atomically by the repository.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { RecoveryCodeRepository } from '../store/repositories.ts';

// Crockford's base32 alphabet: 32 symbols without I, L, O and U, so nothing reads as anything else;
// on input, the look-alikes are folded back (o→0, i/l→1) as Crockford decoding prescribes.
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const GROUPS = 4;
const GROUP_LENGTH = 4;
/** Bits of entropy per code: 16 symbols × 5 bits. */
export const RECOVERY_CODE_BITS = GROUPS * GROUP_LENGTH * 5;
const CODE_LENGTH = GROUPS * GROUP_LENGTH;

/** How many codes a user gets by default. */
export const DEFAULT_RECOVERY_CODES = 10;

/** `n` fresh recovery codes, formatted `xxxx-xxxx-xxxx-xxxx` (80 random bits each). */
export function generateRecoveryCodes(n: number = DEFAULT_RECOVERY_CODES): string[] {
  if (!Number.isInteger(n) || n < 1 || n > 100) throw new RangeError('between 1 and 100 recovery codes');
  const codes: string[] = [];
  for (let i = 0; i < n; i++) {
    // 32 divides 256, so taking the low five bits of each random byte is unbiased.
    const bytes = randomBytes(CODE_LENGTH);
    let symbols = '';
    for (const b of bytes) symbols += ALPHABET[b & 31];
    const groups: string[] = [];
    for (let g = 0; g < GROUPS; g++) groups.push(symbols.slice(g * GROUP_LENGTH, (g + 1) * GROUP_LENGTH));
    codes.push(groups.join('-'));
  }
  return codes;
}

/** The canonical form of a typed code (case, dashes, spaces and look-alike letters folded), or undefined if it cannot be one. */
export function normaliseRecoveryCode(code: string): string | undefined {
  const folded = code
    .toLowerCase()
    .replace(/[\s-]/g, '')
    .replace(/o/g, '0')
    .replace(/[il]/g, '1');
  if (folded.length !== CODE_LENGTH) return undefined;
  for (const c of folded) if (!ALPHABET.includes(c)) return undefined;
  return folded;
}

/** Whether a string could be a recovery code (as opposed to a TOTP code or garbage). */
export function looksLikeRecoveryCode(code: string): boolean {
  return normaliseRecoveryCode(code) !== undefined;
}

/**
 * SHA-256 hex of the normalised code. No password KDF: a KDF exists to slow down guessing of
 * low-entropy human secrets, while these are 80 random bits — 2^80 SHA-256 evaluations is out of
 * reach of any offline attacker, so a fast hash already protects a leaked table, and the online
 * path (which is throttled anyway) stays cheap. A malformed code hashes its raw text and so simply
 * matches nothing.
 */
export function hashRecoveryCode(code: string): string {
  return createHash('sha256').update(normaliseRecoveryCode(code) ?? code, 'utf8').digest('hex');
}

/** Generates fresh codes, replaces all of the user's stored ones with their hashes, and returns the plain codes (show once). */
export async function resetRecoveryCodes(repo: RecoveryCodeRepository, userId: string, n: number = DEFAULT_RECOVERY_CODES): Promise<string[]> {
  const codes = generateRecoveryCodes(n);
  await repo.replace(userId, codes.map(hashRecoveryCode));
  return codes;
}

/** Uses up one recovery code of this user; true only the first time a valid code is presented (atomic in the repository). */
export async function consumeRecoveryCode(repo: RecoveryCodeRepository, userId: string, code: string, now: number): Promise<boolean> {
  if (!looksLikeRecoveryCode(code)) return false;
  return repo.consume(userId, hashRecoveryCode(code), now);
}
