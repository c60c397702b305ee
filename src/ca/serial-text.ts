/** Certificate serials as people and URLs write them: decimal text of an unsigned 64-bit integer (PROTOCOL.certkeys). */
import { AirlockError } from '../errors.ts';

const MAX_SERIAL = (1n << 64n) - 1n;

/**
 * The serial a decimal text names; AirlockError('bad_request') for anything else, including numbers
 * past 2^64-1, which no certificate can carry (they used to reach the database and fail there as a 500).
 */
export function parseSerialText(text: string): bigint {
  if (/^\d{1,20}$/.test(text)) {
    const serial = BigInt(text);
    if (serial <= MAX_SERIAL) return serial;
  }
  throw new AirlockError('bad_request', `"${text.slice(0, 32)}${text.length > 32 ? '…' : ''}" is not a certificate serial number: give the decimal serial that airlock certs list shows.`);
}
