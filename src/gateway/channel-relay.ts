/**
 * The gateway's data path from the SSH client to a target: each decrypted CHANNEL_DATA payload is
 * written straight to the target's socket, and from its first relay channel on, the connection's
 * socket is read into one reused buffer (fixed-read-buffer.ts).
 *
 * Why not `channel.pipe(socket)`: per 32 KiB packet that path pushes into a Readable, emits 'data',
 * runs pipe's handlers and only then writes, and every read allocated a new buffer; together with the
 * garbage collection the allocations caused, the gateway spent ~1.5× an OpenSSH jump host's CPU per
 * byte (docs/performance.md). The ssh2 patch's hooks make the direct path possible:
 * `interceptChannelData` offers every payload here first, and `parseBorrowed` copies whatever ssh2
 * itself keeps of a chunk, so only this file ever sees views of the reused read buffer; and
 * `reuseOutputBuffer` lets ssh2 build what the connection sends in one shared buffer while its socket
 * has nothing queued. Data that must wait behind earlier writes is copied into pooled buffers
 * (queued-chunk-pool.ts), so a steady transfer allocates no buffer per packet in either direction.
 *
 * Flow control is ssh2's, done here for the channels taken over: the channel's receive window is
 * charged per payload and re-opened (`windowAdjust`) when half is used — but not while the target's
 * socket is above its high-water mark, so a slow target holds the client to one window (2 MiB) of
 * buffered data, exactly as with pipe().
 */
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import type { Connection, ServerChannel } from 'ssh2';
import { writeQueuedCopy } from './queued-chunk-pool.ts';
import { FIXED_READ_BUFFER_SIZE, readIntoFixedBuffer, type FixedReadBuffer } from './fixed-read-buffer.ts';

const require = createRequire(import.meta.url);

// ssh2 internals used here (ssh2 1.17 with Airlock's patch; not in ssh2's typings).
interface ChannelInternals {
  incoming: { id: number; window: number };
}
interface ProtocolInternals {
  parseBorrowed(chunk: Buffer, start: number, end: number): void;
  interceptChannelData(fn: ((recipient: number, data: Buffer) => boolean) | undefined): void;
  reuseOutputBuffer(writtenOut: (() => boolean) | undefined): void;
}
interface ChannelModule {
  windowAdjust: (channel: ChannelInternals) => void;
  WINDOW_THRESHOLD: number;
}

const { windowAdjust, WINDOW_THRESHOLD } = require('ssh2/lib/Channel.js') as ChannelModule;

/** The read buffer a connection starts with (Node's own read size); it doubles up to 256 KiB under load. */
const FIRST_READ_BUFFER_SIZE = 64 * 1024;

interface Relay {
  channel: ServerChannel & ChannelInternals;
  target: Writable;
  /** The target's socket is above its high-water mark: the window is not re-opened until 'drain'. */
  waiting: boolean;
}

/** One SSH connection's relays. */
export interface ConnectionRelays {
  /** Whether the connection's socket reads into a reused buffer (from the first add(); never if Node lacks the internals). */
  readonly fixedReads: boolean;
  /**
   * Carries the client→target direction of `channel` into `target` from now on. The other direction,
   * and ending the target when the client sends EOF, stay with the caller. `target` is a socket, or
   * another SSH channel (the per-job proxy): any Writable whose write() either takes the data before
   * it returns or leaves writableLength above zero.
   */
  add(channel: ServerChannel, target: Writable): void;
}

/**
 * Takes over the data path of `client`'s connection (call once it is authenticated). `afterChunk` runs
 * after each chunk read from `socket` has been processed (the gateway checks rekeying by volume there).
 */
export function relayConnection(client: Connection, socket: Socket, afterChunk: () => void): ConnectionRelays {
  const proto = (client as unknown as { _protocol?: Partial<ProtocolInternals> })._protocol;
  if (proto === undefined || typeof proto.parseBorrowed !== 'function' || typeof proto.interceptChannelData !== 'function' || typeof proto.reuseOutputBuffer !== 'function') {
    // ssh2ExtensionProblem() refuses to start the gateway without the patch; this is not reached.
    throw new Error('ssh2 lacks the channel data hooks of Airlock\'s patch');
  }
  const relays = new Map<number, Relay>();
  const parseBorrowed = proto.parseBorrowed.bind(proto);

  const deliver = (relay: Relay, data: Buffer): void => {
    const incoming = relay.channel.incoming;
    // ssh2 drops data beyond the window it granted (RFC 4254 §5.2: the peer must not send it); so do we.
    if (data.length > incoming.window) return;
    incoming.window -= data.length;
    const target = relay.target;
    if (!target.writable) return;
    let below: boolean;
    if (reader !== undefined && reader.isBorrowed(data)) {
      if (target.writableLength === 0) {
        below = target.write(data);
        // The kernel did not take it all: the socket still points into the read buffer.
        if (target.writableLength !== 0) reader.lend();
      } else {
        // Queued behind earlier data: the read buffer will be reused before this is written.
        below = writeQueuedCopy(target, data);
      }
    } else {
      below = target.write(data);
    }
    if (!below) relay.waiting = true;
    else if (incoming.window <= WINDOW_THRESHOLD) windowAdjust(relay.channel);
  };

  proto.interceptChannelData((recipient, data) => {
    const relay = relays.get(recipient);
    if (relay === undefined) return false;
    deliver(relay, data);
    return true;
  });

  // The connection's own reads go through Node's stream (ssh2's 'data' listener) until it opens its
  // first relay channel: an idle or lobby-only connection keeps no read buffer of its own.
  let reader: FixedReadBuffer | undefined;
  let switched = false;
  socket.on('data', afterChunk);
  const switchReads = (): void => {
    switched = true;
    // What this connection sends from now on is built in ssh2's shared output buffer while the socket
    // has nothing queued (the patch's reuseOutputBuffer): no buffer per packet either way.
    proto.reuseOutputBuffer!(() => socket.writableLength === 0);
    reader = readIntoFixedBuffer(socket, (chunk) => {
      try {
        parseBorrowed(chunk, 0, chunk.length);
      } catch (err) {
        // What ssh2's own 'data' listener does on a protocol error.
        client.emit('error', err);
        if (socket.writable) socket.end();
        return;
      }
      afterChunk();
    }, FIRST_READ_BUFFER_SIZE, FIXED_READ_BUFFER_SIZE);
  };

  return {
    get fixedReads() {
      return reader !== undefined;
    },
    add(channel, target) {
      if (!switched) switchReads();
      const ch = channel as ServerChannel & ChannelInternals;
      const id = ch.incoming.id;
      const relay: Relay = { channel: ch, target, waiting: false };
      relays.set(id, relay);
      target.on('drain', () => {
        if (!relay.waiting) return;
        relay.waiting = false;
        if (ch.incoming.window <= WINDOW_THRESHOLD) windowAdjust(ch);
      });
      // ssh2 reuses channel ids: forget this one as soon as it closes.
      channel.once('close', () => {
        if (relays.get(id) === relay) relays.delete(id);
      });
    },
  };
}
