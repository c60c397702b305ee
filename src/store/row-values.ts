/**
 * Checked conversions between column values and domain values. A row that does not hold what the
 * schema promises (a flag other than 0/1, JSON of the wrong shape, an integer that lost precision)
 * raises an error instead of being guessed at: an is_admin of 2 must not read as "admin".
 */
import { AirlockError } from '../errors.ts';

function malformed(what: string): AirlockError {
  return new AirlockError('internal', `the database holds a malformed ${what}`);
}

/** A 0/1 integer column as a boolean. */
export function toBool(value: number, what: string): boolean {
  if (value === 1) return true;
  if (value === 0) return false;
  throw malformed(what);
}

/** A boolean as a 0/1 integer column. */
export function fromBool(value: boolean): number {
  return value ? 1 : 0;
}

/** An integer column (epoch ms, count, id) as a number; rejects strings and unsafe integers. */
export function toInt(value: number, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw malformed(what);
  return value;
}

/** A nullable integer column. */
export function toIntOrNull(value: number | null, what: string): number | null {
  return value === null ? null : toInt(value, what);
}

/** A JSON text column holding an array of strings. */
export function toStringArray(text: string, what: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw malformed(what);
  }
  if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === 'string')) throw malformed(what);
  return parsed;
}

/** A JSON text column holding an object. */
export function toObject(text: string, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw malformed(what);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw malformed(what);
  return parsed as Record<string, unknown>;
}

/** A text column restricted to a set of values. */
export function toOneOf<T extends string>(value: string, allowed: readonly T[], what: string): T {
  if (!(allowed as readonly string[]).includes(value)) throw malformed(what);
  return value as T;
}

/** The largest certificate serial: OpenSSH serials are uint64. */
const MAX_SERIAL = (1n << 64n) - 1n;

/** A certificate serial as the decimal text the schema stores. */
export function fromSerial(serial: bigint): string {
  if (serial < 0n || serial > MAX_SERIAL) throw new AirlockError('internal', 'a certificate serial must be an unsigned 64-bit integer');
  return serial.toString(10);
}

/** The stored decimal text of a serial as a bigint. */
export function toSerial(text: string): bigint {
  if (!/^(0|[1-9][0-9]{0,19})$/.test(text)) throw malformed('certificate serial');
  const serial = BigInt(text);
  if (serial > MAX_SERIAL) throw malformed('certificate serial');
  return serial;
}

