/**
 * writeQueuedCopy: a queued copy survives the caller reusing its source (the relay's read buffer), its
 * pooled buffer is reused only after the target has called back, bytes arrive intact and in order
 * through a target that holds every chunk for a while, and oversized data is copied whole.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { MAX_POOLED_CHUNKS, POOLED_CHUNK_SIZE, pooledChunks, writeQueuedCopy } from './queued-chunk-pool.ts';

/** A target that holds each chunk (and its callback) until release() is called. */
function holdingTarget(): { target: Writable; received: Buffer[]; held: () => number; release: () => void } {
  const received: Buffer[] = [];
  const pending: (() => void)[] = [];
  const target = new Writable({
    highWaterMark: 1024 * 1024,
    write(chunk: Buffer, _enc, cb) {
      pending.push(() => {
        received.push(Buffer.from(chunk)); // what the chunk holds when the target finally consumes it
        cb();
      });
    },
  });
  return { target, received, held: () => pending.length, release: () => pending.shift()?.() };
}

test('a queued copy keeps its bytes while the source is overwritten, and its buffer is reused only after the target calls back', async () => {
  const { target, received, held, release } = holdingTarget();
  const source = Buffer.alloc(1000, 0x41);
  const before = pooledChunks();
  writeQueuedCopy(target, source);
  source.fill(0x42); // the relay's next read into the same buffer
  writeQueuedCopy(target, source);
  assert.equal(held(), 1, 'the first write is with the target, the second queued behind it');
  assert.ok(pooledChunks() <= before, 'nothing returned to the pool before a callback');
  release();
  await new Promise((r) => setImmediate(r));
  assert.equal(received[0]!.toString('latin1'), 'A'.repeat(1000));
  release();
  await new Promise((r) => setImmediate(r));
  assert.equal(received[1]!.toString('latin1'), 'B'.repeat(1000));
  assert.equal(pooledChunks(), Math.min(MAX_POOLED_CHUNKS, before - Math.min(before, 2) + 2), 'both buffers are back in the pool');
});

test('many chunks through a slow target arrive intact and in order, and the pool stays bounded', async () => {
  const { target, received, held, release } = holdingTarget();
  const data = randomBytes(300 * 1024 + 17);
  const expected = createHash('sha256').update(data).digest('hex');
  const source = Buffer.allocUnsafe(POOLED_CHUNK_SIZE);
  for (let off = 0; off < data.length; off += 7000) {
    const n = Math.min(7000, data.length - off);
    data.copy(source, 0, off, off + n);
    writeQueuedCopy(target, source.subarray(0, n));
    source.fill(0); // reused at once, as the relay's read buffer is
    if (off % 21000 === 0) release(); // the target consumes at its own pace
  }
  for (let i = 0; i < 1000 && held() > 0; i++) {
    release();
    await new Promise((r) => setImmediate(r));
  }
  assert.equal(createHash('sha256').update(Buffer.concat(received)).digest('hex'), expected);
  assert.ok(pooledChunks() <= MAX_POOLED_CHUNKS);
});

test('data larger than a pooled buffer is copied whole', async () => {
  const { target, received, release } = holdingTarget();
  const big = randomBytes(POOLED_CHUNK_SIZE + 1);
  const copy = Buffer.from(big);
  writeQueuedCopy(target, big);
  big.fill(0);
  release();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(received[0], copy);
});
