/**
 * Reads a socket into one reused buffer instead of a fresh ArrayBuffer per read.
 *
 * Why: Node allocates a new 64 KiB ArrayBuffer for every read of a socket. At relay speeds that is
 * ~16,000 allocations per GiB, and V8 answers the external-memory churn with a full mark-sweep every
 * ~50 MiB: the gateway spent ~30 % of its CPU in garbage collection while relaying (perf, 1 GiB through
 * `ssh -L`; docs/performance.md). Node's `onread` option (net.Socket) reads into a caller's buffer, but
 * only sockets Node creates for `connect()` can ask for it; this switches an accepted socket into the
 * same mode by setting the three fields that option sets (Node's internal `kBuffer`, `kBufferCb`,
 * `kBufferGen`) and telling the handle to use the buffer. Node is pinned (package.json), and
 * fixed-read-buffer.test.ts fails if a Node upgrade moves these internals. A Node without them gets
 * `undefined` here and the relay keeps Node's ordinary reads: slower, but with the same flow control
 * and the same bytes (test/integration/gateway-relay-fallback.test.ts runs the relay's checks so).
 * Security-relevant either way: the relay's flow control is what bounds the gateway's memory when a
 * target stops reading (SECURITY.md).
 *
 * The contract with the consumer: a chunk is valid only until `onChunk` returns — the next read
 * overwrites it. A consumer that hands a view of it to something that outlives the call (a socket
 * write that did not complete at once) calls `lend()`, and the next read goes into a new buffer.
 */
import type { Socket } from 'node:net';

/** Bytes per read: big enough to take several 32 KiB SSH packets from a busy socket in one call. */
export const FIXED_READ_BUFFER_SIZE = 256 * 1024;

/** A grown buffer goes back to its first size at a small read this long after the last large one. */
export const SHRINK_AFTER_QUIET_MS = 2000;

export interface FixedReadBuffer {
  /** Whether `view` points into the buffer reads currently go to. */
  isBorrowed(view: Uint8Array): boolean;
  /** The current buffer is kept by someone else: give the next read a new one. */
  lend(): void;
}

interface NodeUserBufferHandle {
  useUserBuffer?: (buf: Uint8Array) => void;
}

const FIELD_NAMES = ['kBuffer', 'kBufferCb', 'kBufferGen'] as const;

function userBufferFields(socket: Socket): Record<(typeof FIELD_NAMES)[number], symbol> | undefined {
  const found: Partial<Record<(typeof FIELD_NAMES)[number], symbol>> = {};
  for (const sym of Object.getOwnPropertySymbols(socket)) {
    const name = sym.description as (typeof FIELD_NAMES)[number] | undefined;
    if (name !== undefined && (FIELD_NAMES as readonly string[]).includes(name)) found[name] = sym;
  }
  return found.kBuffer && found.kBufferCb && found.kBufferGen ? (found as Record<(typeof FIELD_NAMES)[number], symbol>) : undefined;
}

/**
 * Switches `socket` to reading into a reused buffer of `size` bytes; each read calls `onChunk` instead
 * of emitting 'data' ('end', 'close' and pause()/resume() work as before). With `maxSize` above `size`
 * the buffer doubles, up to `maxSize`, whenever a read fills it, and goes back to `size` at a small
 * read (a quarter of `size` or less) once no large one has come for SHRINK_AFTER_QUIET_MS: a bulk
 * transfer gets large reads, and a tunnel that has gone quiet after one does not keep a large buffer
 * (10,000 of them would hold 2.5 GiB). Returns undefined,
 * changing nothing, when this Node does not have the internals it needs.
 */
export function readIntoFixedBuffer(socket: Socket, onChunk: (chunk: Buffer) => void, size = FIXED_READ_BUFFER_SIZE, maxSize = size): FixedReadBuffer | undefined {
  // The socket's internal handle: not part of Node's typings.
  const handle = (socket as unknown as { _handle?: NodeUserBufferHandle | null })._handle;
  const fields = userBufferFields(socket);
  if (fields === undefined || handle === null || handle === undefined || typeof handle.useUserBuffer !== 'function') return undefined;
  if ((socket as unknown as Record<symbol, unknown>)[fields.kBuffer]) return undefined; // already in this mode
  // allocUnsafeSlow: never a slice of Node's shared pool, so that `.buffer` identifies this buffer alone.
  let buf = Buffer.allocUnsafeSlow(size);
  let lent = false;
  let next = size; // the size of the next buffer, when it differs from the current one's
  let lastLargeRead = 0;
  const fieldsOf = socket as unknown as Record<symbol, unknown>;
  fieldsOf[fields.kBufferCb] = (nread: number, b: Buffer) => {
    next = b.length;
    if (nread > size / 4) {
      lastLargeRead = performance.now();
      if (nread === b.length && b.length < maxSize) next = Math.min(b.length * 2, maxSize);
    } else if (b.length > size && performance.now() - lastLargeRead > SHRINK_AFTER_QUIET_MS) {
      // Not on the first small read: a bulk transfer has small reads too, and re-allocating on each
      // cost a quarter more CPU per GiB relayed.
      next = size;
    }
    onChunk(b.subarray(0, nread));
  };
  // Called by Node after every read; its result is where the next read goes.
  fieldsOf[fields.kBufferGen] = () => {
    if (lent || next !== buf.length) {
      buf = Buffer.allocUnsafeSlow(next);
      lent = false;
    }
    return buf;
  };
  fieldsOf[fields.kBuffer] = buf;
  handle.useUserBuffer(buf);
  return {
    isBorrowed: (view) => view.buffer === buf.buffer,
    lend: () => {
      lent = true;
    },
  };
}
