/**
 * Password hashing with Argon2id (RFC 9106) through Node 24's built-in `crypto.argon2`, stored as a
 * PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`, standard base64 without padding, exactly as
 * the argon2 reference implementation writes it), and the local password policy.
 */
import { argon2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { AirlockError } from '../errors.ts';

const argon2Async = promisify(argon2);

/** Argon2id cost: memory in KiB, passes (t) and lanes (p). */
export interface KdfCost {
  memoryKiB: number;
  passes: number;
  parallelism: number;
}

/** OWASP Password Storage Cheat Sheet's first Argon2id option: m=19 MiB, t=2, p=1. The production default. */
export const OWASP_COST: Readonly<KdfCost> = Object.freeze({ memoryKiB: 19456, passes: 2, parallelism: 1 });

/**
 * A cheap profile for tests that hash many passwords and are not about the KDF. Never a default:
 * callers must pass it explicitly, so production code cannot end up with it by omission.
 */
export const LOW_COST_FOR_TESTS: Readonly<KdfCost> = Object.freeze({ memoryKiB: 1024, passes: 1, parallelism: 1 });

/** Fewest and most characters a password may have (code points, after NFKC normalisation). */
export const PASSWORD_MIN_LENGTH = 12;
/** Bounds what an attacker can feed the KDF per attempt. */
export const PASSWORD_MAX_LENGTH = 1024;

const SALT_BYTES = 16; // RFC 9106 §3.1 recommends 128-bit salts
const TAG_BYTES = 32;
const ARGON2_VERSION = 19; // 0x13, the only version Node implements

// Bounds on parameters read back from a stored hash: a corrupted or planted hash must not make one
// verification allocate gigabytes or spin for minutes.
const MAX_MEMORY_KIB = 262144;
const MAX_PASSES = 16;
const MAX_PARALLELISM = 16;

const B64_UNPADDED = /^[A-Za-z0-9+/]+$/;
const PHC = /^\$argon2id\$v=(\d+)\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

interface ParsedHash {
  cost: KdfCost;
  salt: Buffer;
  tag: Buffer;
}

// NIST SP 800-63B §5.1.1.2: normalise Unicode (NFKC) so that the same password typed on different
// keyboards or platforms hashes the same.
function normalise(password: string): string {
  return password.normalize('NFKC');
}

// Composition shrinks a string by a small bounded factor (a base letter and a few marks become one
// character), so anything this long is over the limit whatever NFKC makes of it, and is refused
// before any work is spent on it.
function obviouslyTooLong(password: string): boolean {
  return password.length > PASSWORD_MAX_LENGTH * 16;
}

function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function b64(buf: Buffer): string {
  return buf.toString('base64').replace(/=+$/, '');
}

function unb64(s: string): Buffer | undefined {
  // A length of 1 mod 4 cannot come from any byte string; Buffer.from would silently drop it.
  if (!B64_UNPADDED.test(s) || s.length % 4 === 1) return undefined;
  const buf = Buffer.from(s, 'base64');
  return b64(buf) === s ? buf : undefined; // canonical encodings only
}

function parsePhc(phc: string): ParsedHash | undefined {
  const m = PHC.exec(phc);
  if (!m) return undefined;
  const [, v, mem, t, p, saltB64, tagB64] = m;
  const version = Number(v);
  const cost: KdfCost = { memoryKiB: Number(mem), passes: Number(t), parallelism: Number(p) };
  if (version !== ARGON2_VERSION) return undefined;
  if (!Number.isSafeInteger(cost.memoryKiB) || !Number.isSafeInteger(cost.passes) || !Number.isSafeInteger(cost.parallelism)) return undefined;
  if (cost.parallelism < 1 || cost.parallelism > MAX_PARALLELISM) return undefined;
  if (cost.passes < 1 || cost.passes > MAX_PASSES) return undefined;
  if (cost.memoryKiB < 8 * cost.parallelism || cost.memoryKiB > MAX_MEMORY_KIB) return undefined;
  const salt = unb64(saltB64 ?? '');
  const tag = unb64(tagB64 ?? '');
  if (!salt || !tag || salt.length < 8 || salt.length > 64 || tag.length < 16 || tag.length > 64) return undefined;
  return { cost, salt, tag };
}

async function derive(password: string, salt: Buffer, cost: KdfCost, tagLength: number): Promise<Buffer> {
  return argon2Async('argon2id', {
    message: Buffer.from(normalise(password), 'utf8'),
    nonce: salt,
    memory: cost.memoryKiB,
    passes: cost.passes,
    parallelism: cost.parallelism,
    tagLength,
  });
}

/** Hashes a password with Argon2id and a fresh random salt; returns the PHC string. */
export async function hashPassword(password: string, options: { cost?: KdfCost } = {}): Promise<string> {
  const cost = options.cost ?? OWASP_COST;
  if (obviouslyTooLong(password) || codePoints(normalise(password)) > PASSWORD_MAX_LENGTH) {
    throw new AirlockError('bad_request', `Passwords may have at most ${PASSWORD_MAX_LENGTH} characters.`);
  }
  const salt = randomBytes(SALT_BYTES);
  const tag = await derive(password, salt, cost, TAG_BYTES);
  return `$argon2id$v=${ARGON2_VERSION}$m=${cost.memoryKiB},t=${cost.passes},p=${cost.parallelism}$${b64(salt)}$${b64(tag)}`;
}

/**
 * Whether `password` matches the PHC string. Compares in constant time; a malformed or unsupported
 * hash, or an over-long password, yields false (never an exception).
 */
export async function verifyPassword(password: string, phc: string): Promise<boolean> {
  const parsed = parsePhc(phc);
  // An account whose hash is unusable on purpose (service accounts) or damaged still costs one KDF
  // run, so that timing does not tell such accounts from real ones.
  if (!parsed) return dummyVerify(password);
  if (obviouslyTooLong(password) || codePoints(normalise(password)) > PASSWORD_MAX_LENGTH) return false;
  let tag: Buffer;
  try {
    tag = await derive(password, parsed.salt, parsed.cost, parsed.tag.length);
  } catch {
    return false;
  }
  return tag.length === parsed.tag.length && timingSafeEqual(tag, parsed.tag);
}

/** Whether a stored hash should be recomputed at the next successful login (cost below `target`, or unreadable). */
export function needsRehash(phc: string, target: KdfCost = OWASP_COST): boolean {
  const parsed = parsePhc(phc);
  if (!parsed) return true;
  return (
    parsed.cost.memoryKiB < target.memoryKiB || parsed.cost.passes < target.passes || parsed.tag.length < TAG_BYTES || parsed.salt.length < SALT_BYTES
  );
}

// A hash at production cost of a random password nobody knows (generated once with hashPassword).
// Verifying against it costs what verifying a real user's hash costs, so a sign-in for an unknown
// user name takes as long as one for a known name (no timing oracle for user enumeration).
const DUMMY_HASH = '$argon2id$v=19$m=19456,t=2,p=1$ezBhMK9kdXTql5MMNfu3vA$yL/ZbrDYYE9aIcAtf8DyNhyPc3McoIonidKGBI+mc6k';

/** Runs the KDF against a fixed dummy hash so an unknown user costs the same time as a known one; always false. */
export async function dummyVerify(password: string): Promise<false> {
  await verifyPassword(password, DUMMY_HASH);
  return false;
}

/** The policy problem with a password for this user, or undefined when it is acceptable. */
export function passwordPolicyViolation(password: string, userName?: string): string | undefined {
  if (obviouslyTooLong(password)) return `The password is too long: use at most ${PASSWORD_MAX_LENGTH} characters.`;
  const normalised = normalise(password);
  const length = codePoints(normalised);
  if (length < PASSWORD_MIN_LENGTH) {
    return `The password is too short: use at least ${PASSWORD_MIN_LENGTH} characters (a few unrelated words make a good one).`;
  }
  if (length > PASSWORD_MAX_LENGTH) {
    return `The password is too long: use at most ${PASSWORD_MAX_LENGTH} characters.`;
  }
  if (userName !== undefined && normalised.trim().toLowerCase() === normalise(userName).trim().toLowerCase()) {
    return 'The password must not be the user name.';
  }
  return undefined;
}

/** Throws AirlockError('bad_request') with a clear message when the password breaks the policy. */
export function checkPasswordPolicy(password: string, userName?: string): void {
  const problem = passwordPolicyViolation(password, userName);
  if (problem !== undefined) throw new AirlockError('bad_request', problem);
}
