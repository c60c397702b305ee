/**
 * readIntoFixedBuffer on real loopback sockets: it activates on this Node (the internals it needs are
 * there), data arrives intact, the buffer is reused, lend() keeps a lent chunk from being overwritten,
 * the buffer grows when asked to, and 'end'/'close' and pause()/resume() still work.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { readIntoFixedBuffer, SHRINK_AFTER_QUIET_MS } from './fixed-read-buffer.ts';

interface Pair {
  server: Server;
  accepted: Socket;
  client: Socket;
  close(): Promise<void>;
}

/** A connected loopback pair; the accepted side starts paused, like the gateway's (pauseOnConnect). */
async function pair(): Promise<Pair> {
  let accept!: (s: Socket) => void;
  const acceptedP = new Promise<Socket>((r) => (accept = r));
  const server = createServer({ pauseOnConnect: true }, (s) => accept(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
  client.on('error', () => {});
  await new Promise<void>((r) => client.once('connect', r));
  const accepted = await acceptedP;
  accepted.on('error', () => {});
  return {
    server, accepted, client,
    close: async () => {
      client.destroy();
      accepted.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/**
 * Counts the bytes the reader hands over and lets the test wait until a total has arrived: resolved
 * from the reader's callback, not by polling with a sleep that a loaded machine outruns (bounded).
 */
function byteCounter() {
  let total = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  return {
    get received(): number {
      return total;
    },
    add(n: number): void {
      total += n;
      for (const w of waiters.filter((x) => total >= x.n)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    },
    reach(n: number, timeoutMs = 60_000): Promise<void> {
      if (total >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${total} of ${n} bytes arrived in ${timeoutMs} ms`)), timeoutMs);
        waiters.push({ n, resolve: () => (clearTimeout(timer), resolve()) });
      });
    },
  };
}

/** Writes `data` in pieces of up to 100 KiB, then ends. */
function sendAll(s: Socket, data: Buffer): void {
  for (let i = 0; i < data.length; i += 100 * 1024) s.write(data.subarray(i, i + 100 * 1024));
  s.end();
}

test('activates on this Node for an accepted socket, delivers every byte, and reuses one buffer', async () => {
  const p = await pair();
  try {
    const data = randomBytes(8 * 1024 * 1024);
    const hash = createHash('sha256');
    const buffers = new Set<ArrayBufferLike>();
    let received = 0;
    const reader = readIntoFixedBuffer(p.accepted, (chunk) => {
      hash.update(chunk);
      buffers.add(chunk.buffer);
      received += chunk.length;
      assert.ok(reader!.isBorrowed(chunk));
    }, 64 * 1024);
    // If a Node upgrade moves kBuffer/kBufferCb/kBufferGen or useUserBuffer, this is where it shows.
    assert.ok(reader, 'readIntoFixedBuffer found the Node internals it needs');
    const ended = new Promise<void>((r) => p.accepted.once('end', r));
    const closed = new Promise<void>((r) => p.accepted.once('close', r));
    p.accepted.resume();
    sendAll(p.client, data);
    await ended;
    p.accepted.end();
    await closed;
    assert.equal(received, data.length);
    assert.equal(hash.digest('hex'), createHash('sha256').update(data).digest('hex'));
    assert.equal(buffers.size, 1, 'every read went into the same buffer');
    assert.ok(!reader.isBorrowed(Buffer.alloc(10)));
  } finally {
    await p.close();
  }
});

test('a lent chunk is not overwritten: the next read goes into a new buffer', async () => {
  const p = await pair();
  try {
    const data = randomBytes(4 * 1024 * 1024);
    let kept: { view: Buffer; copy: Buffer } | undefined;
    const after: ArrayBufferLike[] = [];
    let received = 0;
    const reader = readIntoFixedBuffer(p.accepted, (chunk) => {
      received += chunk.length;
      if (kept === undefined) {
        kept = { view: chunk, copy: Buffer.from(chunk) };
        reader!.lend();
      } else {
        after.push(chunk.buffer);
      }
    }, 16 * 1024);
    assert.ok(reader);
    const ended = new Promise<void>((r) => p.accepted.once('end', r));
    p.accepted.resume();
    sendAll(p.client, data);
    await ended;
    assert.equal(received, data.length);
    assert.ok(kept !== undefined && after.length > 0);
    assert.ok(kept.view.equals(kept.copy), 'the lent chunk still holds what was read into it');
    assert.ok(after.every((b) => b !== kept!.view.buffer), 'later reads used another buffer');
    assert.equal(new Set(after).size, 1, 'and that one buffer from then on');
  } finally {
    await p.close();
  }
});

test('with a larger maximum, a buffer that reads fill doubles up to it, and shrinks back once reads are small', async () => {
  const p = await pair();
  try {
    const sizes: number[] = [];
    const count = byteCounter();
    const reader = readIntoFixedBuffer(p.accepted, (chunk) => {
      count.add(chunk.length);
      sizes.push(chunk.buffer.byteLength);
    }, 16 * 1024, 128 * 1024);
    assert.ok(reader);
    p.accepted.resume();
    const bulk = 16 * 1024 * 1024;
    for (let i = 0; i < bulk; i += 64 * 1024) p.client.write(randomBytes(64 * 1024));
    await count.reach(bulk);
    assert.equal(count.received, bulk);
    assert.equal(sizes[0], 16 * 1024, 'started at the first size');
    assert.ok(sizes.includes(128 * 1024), `grew to the maximum (saw ${[...new Set(sizes)].join(', ')})`);
    assert.ok(sizes.every((s) => s <= 128 * 1024), 'never beyond it');
    // A small read right after the bulk keeps the large buffer (bulk transfers have small reads too)…
    for (let i = 0; i < 2; i++) {
      p.client.write(Buffer.alloc(100, 9));
      await count.reach(bulk + 100 * (i + 1));
    }
    assert.equal(sizes.at(-1), 128 * 1024, 'no shrinking in the middle of a transfer');
    // …but once the tunnel has been quiet for SHRINK_AFTER_QUIET_MS, the next small read shrinks it.
    await new Promise((r) => setTimeout(r, SHRINK_AFTER_QUIET_MS + 100));
    for (let i = 0; i < 3; i++) {
      p.client.write(Buffer.alloc(100, i));
      await count.reach(bulk + 200 + 100 * (i + 1));
    }
    assert.equal(count.received, bulk + 500);
    assert.equal(sizes.at(-1), 16 * 1024, `back to the first size after small reads (last sizes ${sizes.slice(-4).join(', ')})`);
  } finally {
    await p.close();
  }
});

test('pause() stops the reads and resume() restarts them', async () => {
  const p = await pair();
  try {
    const count = byteCounter();
    const reader = readIntoFixedBuffer(p.accepted, (chunk) => count.add(chunk.length), 64 * 1024);
    assert.ok(reader);
    p.accepted.resume();
    p.client.write(Buffer.alloc(1000, 1));
    await count.reach(1000);
    assert.equal(count.received, 1000);
    p.accepted.pause();
    p.client.write(Buffer.alloc(5000, 2));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(count.received, 1000, 'nothing is read while paused');
    p.accepted.resume();
    await count.reach(6000);
    assert.equal(count.received, 6000);
  } finally {
    await p.close();
  }
});
