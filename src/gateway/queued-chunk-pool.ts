/**
 * Copies of relayed data that must wait in a target's queue, in buffers that are reused once the
 * target has consumed them.
 *
 * Why: the relay reads each connection into one reused buffer (fixed-read-buffer.ts), so data that a
 * target cannot take at once (an SSH channel whose peer's window is used up: the per-job proxy's job
 * side, whenever the job's sshd is slower than the researcher) must be copied before the next read.
 * A new Buffer per copy made more than half of the bytes through the per-job proxy fresh external
 * memory, and V8 answered with a full mark-sweep of the gateway's heap every few MiB
 * (docs/performance.md). Buffers here go back to a process-wide pool when the target's write
 * callback says it is done with them (a Writable drops its reference to a chunk before calling back).
 */
import type { Writable } from 'node:stream';

/** Pooled buffer size: a CHANNEL_DATA payload from the clients the gateway serves (32 KiB packets). */
export const POOLED_CHUNK_SIZE = 32 * 1024;
/** At most this many free buffers are kept (8 MiB): more is garbage as before. */
export const MAX_POOLED_CHUNKS = 256;

const free: Buffer[] = [];

/** Free buffers in the pool now (for tests). */
export function pooledChunks(): number {
  return free.length;
}

/**
 * Writes a copy of `data` to `target` (its result is write()'s); the copy's buffer returns to the pool
 * once the target calls back. Data larger than a pooled buffer is copied into a new one.
 */
export function writeQueuedCopy(target: Writable, data: Uint8Array): boolean {
  if (data.length > POOLED_CHUNK_SIZE) return target.write(Buffer.from(data));
  // allocUnsafeSlow: a buffer of its own, never a slice of Node's shared pool that others write into.
  const buf = free.pop() ?? Buffer.allocUnsafeSlow(POOLED_CHUNK_SIZE);
  buf.set(data);
  return target.write(buf.subarray(0, data.length), () => {
    if (free.length < MAX_POOLED_CHUNKS) free.push(buf);
  });
}
