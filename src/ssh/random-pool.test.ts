import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pooledRandomBytes } from './random-pool.ts';

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
