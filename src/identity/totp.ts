/**
 * Time-based one-time passwords (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps — what every
 * authenticator app supports) via the `otpauth` package. Time is always passed in, never read here,
 * and verification returns the matched time step so the caller can refuse a replay (RFC 6238 §5.2).
 */
import { randomBytes } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import QRCode from 'qrcode';
import { AirlockError } from '../errors.ts';

/** Seconds per TOTP time step. */
export const TOTP_PERIOD_SECONDS = 30;
/** Digits per code. */
export const TOTP_DIGITS = 6;
const ALGORITHM = 'SHA1';
// RFC 4226 §4 requires a shared secret of at least 128 bits; ours are 160 (32 base32 characters).
const SECRET_BYTES = 20;
const BASE32_SECRET = /^[A-Z2-7]{26,}$/;
// How many steps either side a caller may accept: RFC 6238 §5.2 recommends at most one step of
// network delay; anything wider multiplies an attacker's chance per guess.
const MAX_WINDOW = 2;

function secretOf(base32: string): Secret {
  if (!BASE32_SECRET.test(base32)) {
    // Secrets are generated here and stored by us; a bad one is a data fault, not user input.
    throw new AirlockError('internal', 'A stored TOTP secret is malformed.');
  }
  return Secret.fromBase32(base32);
}

/** A fresh random 160-bit TOTP secret, base32-encoded (no padding). */
export function newTotpSecret(): string {
  const bytes = randomBytes(SECRET_BYTES);
  return new Secret({ buffer: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) }).base32;
}

/** The `otpauth://totp/…` key URI an authenticator app scans (Google Authenticator key URI format). */
export function totpUri(options: { issuer: string; account: string; secret: string }): string {
  return new TOTP({
    issuer: options.issuer,
    label: options.account,
    secret: secretOf(options.secret),
    algorithm: ALGORITHM,
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
  }).toString();
}

/** The key URI as a compact QR code drawn with terminal characters, for `airlock admin user add`. */
export async function totpQrTerminal(uri: string): Promise<string> {
  return QRCode.toString(uri, { type: 'terminal', small: true, errorCorrectionLevel: 'M' });
}

/** The RFC 6238 time step that contains `now` (epoch ms). */
export function totpStep(now: number): number {
  return Math.floor(now / 1000 / TOTP_PERIOD_SECONDS);
}

/** The code an authenticator shows at `now`; for tests and the CLI test harness. */
export function currentTotp(secret: string, now: number): string {
  return TOTP.generate({ secret: secretOf(secret), algorithm: ALGORITHM, digits: TOTP_DIGITS, period: TOTP_PERIOD_SECONDS, timestamp: now });
}

/** Whether a string looks like a TOTP code (6 digits, spaces allowed as typed from an app's display). */
export function looksLikeTotp(code: string): boolean {
  return /^\d{6}$/.test(code.replace(/\s/g, ''));
}

/**
 * Verifies `code` at `now` allowing `window` steps either side for clock skew; returns the matched
 * time step (record it to refuse a second use) or null. Comparison is constant-time (otpauth).
 */
export function verifyTotp(secret: string, code: string, now: number, window = 1): number | null {
  if (!Number.isInteger(window) || window < 0 || window > MAX_WINDOW) {
    throw new AirlockError('internal', `The TOTP window must be an integer from 0 to ${MAX_WINDOW}.`);
  }
  const token = code.replace(/\s/g, '');
  if (!/^\d{6}$/.test(token)) return null;
  const delta = TOTP.validate({
    token,
    secret: secretOf(secret),
    algorithm: ALGORITHM,
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
    timestamp: now,
    window,
  });
  return delta === null ? null : totpStep(now) + delta;
}
