import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isAirlockError } from '../errors.ts';
import { parseSerialText } from './serial-text.ts';

test('serials: decimal uint64 only; everything else is a bad request, not an internal error', () => {
  assert.equal(parseSerialText('0'), 0n);
  assert.equal(parseSerialText('18446744073709551615'), (1n << 64n) - 1n);
  assert.equal(parseSerialText('007'), 7n);
  for (const bad of ['18446744073709551616', '99999999999999999999', '1'.repeat(21), '', '-1', '1e5', '0x10', ' 1', '١٢٣', 'x'.repeat(10_000)]) {
    assert.throws(() => parseSerialText(bad), (e) => isAirlockError(e, 'bad_request') && e.message.length < 200, bad.slice(0, 30));
  }
});
