/**
 * Random bytes for nonces and serials, drawn from the CSPRNG a few kilobytes at a time: one
 * randomBytes call per certificate cost more than hashing it (a call into OpenSSL each time). Every
 * caller gets its own copy of bytes no one else was given; the pool is never reused.
 */
import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let offset = POOL_BYTES;

/** `n` fresh random bytes (n ≤ 4096), a copy the caller owns. */
export function pooledRandomBytes(n: number): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > POOL_BYTES) throw new RangeError(`pooledRandomBytes: ${n} bytes is not in 0..${POOL_BYTES}`);
  const out = Buffer.allocUnsafe(n);
  pooledRandomFill(out);
  return out;
}

/** Fills `target` (at most 4096 bytes) with fresh random bytes, where the caller wants them (no copy of its own). */
export function pooledRandomFill(target: Uint8Array): void {
  const n = target.length;
  if (n > POOL_BYTES) throw new RangeError(`pooledRandomFill: ${n} bytes is more than ${POOL_BYTES}`);
  if (offset + n > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  pool.copy(target, 0, offset, offset + n);
  // Wiped once handed out, so that a later reader of the pool cannot learn what a caller got (a loop:
  // for the few bytes of a nonce or serial, fill's argument checks cost more than the writes).
  for (let i = offset; i < offset + n; i++) pool[i] = 0;
  offset += n;
}
