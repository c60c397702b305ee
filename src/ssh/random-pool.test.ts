import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pooledRandomBytes, pooledRandomFill } from './random-pool.ts';

test('pooled random bytes: the sizes asked for, never the same bytes twice, across refills', () => {
  const seen = new Set<string>();
  // 2,000 × 32 bytes spans many refills of the 4 KiB pool.
  for (let i = 0; i < 2000; i++) {
    const b = pooledRandomBytes(32);
    assert.equal(b.length, 32);
    const hex = b.toString('hex');
    assert.ok(!seen.has(hex), 'a nonce was handed out twice');
    assert.notEqual(hex, '00'.repeat(32));
    seen.add(hex);
  }
  const a = pooledRandomBytes(8);
  a.fill(0xff);
  assert.notEqual(pooledRandomBytes(8).toString('hex'), 'ff'.repeat(8), 'callers own their copies');
  assert.throws(() => pooledRandomBytes(4097), RangeError);
});

test('pooled random fill: writes fresh bytes where the caller asks, none shared with pooledRandomBytes', () => {
  const target = Buffer.alloc(48, 0xaa);
  pooledRandomFill(target.subarray(8, 40));
  assert.equal(target.subarray(0, 8).toString('hex'), 'aa'.repeat(8), 'nothing before');
  assert.equal(target.subarray(40).toString('hex'), 'aa'.repeat(8), 'nothing after');
  assert.notEqual(target.subarray(8, 40).toString('hex'), pooledRandomBytes(32).toString('hex'));
  assert.throws(() => pooledRandomFill(Buffer.alloc(4097)), RangeError);
});
