import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SshReader, SshWriter } from './wire.ts';
import { throwsAirlock, onlyAirlockErrors } from './ssh-keygen.test-helper.ts';

test('RFC 4251 §5 mpint examples encode and decode exactly', () => {
  const cases: [string, string][] = [
    ['', '00000000'],
    ['09a378f9b2e332a7', '0000000809a378f9b2e332a7'],
    ['80', '000000020080'],
    ['0080', '000000020080'],
    ['7f', '000000017f'],
  ];
  for (const [magnitude, wire] of cases) {
    const encoded = new SshWriter().mpint(Buffer.from(magnitude, 'hex')).toBuffer();
    assert.equal(encoded.toString('hex'), wire);
    const r = new SshReader(encoded);
    assert.equal(r.mpint().toString('hex'), magnitude.replace(/^(00)+/, ''));
    r.expectEnd('mpint');
  }
});

test('mpints that are negative or carry a superfluous zero are refused', () => {
  throwsAirlock(() => new SshReader(Buffer.from('00000001ff', 'hex')).mpint(), 'bad_request', /negative/);
  throwsAirlock(() => new SshReader(Buffer.from('000000020001', 'hex')).mpint(), 'bad_request', /leading zero/);
  throwsAirlock(() => new SshReader(Buffer.from('0000000100', 'hex')).mpint(), 'bad_request', /leading zero/);
});

test('every type round-trips', () => {
  const w = new SshWriter()
    .uint8(7)
    .boolean(true)
    .boolean(false)
    .uint32(0xdeadbeef)
    .uint64(0xffffffffffffffffn)
    .string('héllo')
    .string(Buffer.from([1, 2, 3]))
    .nameList(['a', 'b-c', 'd@e'])
    .nameList([])
    .raw(Buffer.from('xyz'));
  const r = new SshReader(w.toBuffer());
  assert.equal(r.uint8(), 7);
  assert.equal(r.boolean(), true);
  assert.equal(r.boolean(), false);
  assert.equal(r.uint32(), 0xdeadbeef);
  assert.equal(r.uint64(), 0xffffffffffffffffn);
  assert.equal(r.text(), 'héllo');
  assert.deepEqual([...r.string()], [1, 2, 3]);
  assert.deepEqual(r.nameList(), ['a', 'b-c', 'd@e']);
  assert.deepEqual(r.nameList(), []);
  assert.equal(r.remaining, 3);
  assert.equal(r.raw(3).toString(), 'xyz');
  assert.ok(r.atEnd());
  r.expectEnd('everything');
});

test('reads past the end, oversized lengths and trailing bytes are errors with the chosen code', () => {
  throwsAirlock(() => new SshReader(Buffer.from([0, 0, 0])).uint32(), 'bad_request', /truncated/);
  throwsAirlock(() => new SshReader(Buffer.from([0, 0, 0, 5, 1, 2])).string(), 'bad_request', /length 5 exceeds the 2 byte/);
  throwsAirlock(() => new SshReader(Buffer.from([0xff, 0xff, 0xff, 0xff]), { code: 'invalid_key', what: 'key' }).string(), 'invalid_key', /^key: /);
  const r = new SshReader(Buffer.from([1, 2]), { code: 'invalid_certificate' });
  r.uint8();
  throwsAirlock(() => r.expectEnd('the thing'), 'invalid_certificate', /1 unexpected trailing byte\(s\) after the thing/);
  throwsAirlock(() => new SshReader(Buffer.from([0, 0, 0, 2, 0xc3, 0x28])).text(), 'bad_request', /UTF-8/);
  throwsAirlock(() => new SshReader(Buffer.from([0, 0, 0, 3, 0x61, 0x2c, 0x2c])).nameList(), 'bad_request', /empty name/);
  throwsAirlock(() => new SshReader(Buffer.alloc(2)).raw(3), 'bad_request', /truncated/);
});

test('the writer refuses out-of-range values with bad_request', () => {
  throwsAirlock(() => new SshWriter().uint32(2 ** 32), 'bad_request');
  throwsAirlock(() => new SshWriter().uint64(-1n), 'bad_request');
  throwsAirlock(() => new SshWriter().uint64(2n ** 64n), 'bad_request');
  throwsAirlock(() => new SshWriter().uint8(256), 'bad_request');
  throwsAirlock(() => new SshWriter().nameList(['a,b']), 'bad_request');
});

test('property: any mpint magnitude round-trips minimally', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), (a) => {
      const b = Buffer.from(a);
      const encoded = new SshWriter().mpint(b).toBuffer();
      const back = new SshReader(encoded).mpint();
      assert.equal(back.toString('hex'), b.toString('hex').replace(/^(00)+/, ''));
    }),
    { numRuns: 200 },
  );
});

test('property: reading arbitrary bytes as any sequence of fields only throws AirlockError', () => {
  const op = fc.constantFrom('uint8', 'boolean', 'uint32', 'uint64', 'string', 'text', 'mpint', 'nameList', 'expectEnd');
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.array(op, { maxLength: 8 }), (bytes, ops) => {
      const r = new SshReader(Buffer.from(bytes));
      onlyAirlockErrors(() => {
        for (const o of ops) {
          if (o === 'expectEnd') r.expectEnd('x');
          else r[o]();
        }
      });
    }),
    { numRuns: 200 },
  );
});

test('nested strings written in place (openString/closeString) encode like strings of separately written bytes', () => {
  fc.assert(
    fc.property(fc.array(fc.string({ maxLength: 40 }), { maxLength: 6 }), fc.integer({ min: 1, max: 64 }), (items, capacity) => {
      const inner = new SshWriter();
      for (const s of items) inner.string(s);
      const expected = new SshWriter().uint8(7).string(inner.toBuffer()).uint32(9).toBuffer();
      // A small capacity makes the writer grow in the middle of a nested string.
      const w = new SshWriter(capacity).uint8(7);
      const mark = w.openString();
      for (const s of items) w.string(s);
      w.closeString(mark).uint32(9);
      assert.equal(w.toBuffer().toString('hex'), expected.toString('hex'));
      assert.equal(w.length, expected.length);
    }),
    { numRuns: 200 },
  );
});

test('bytes handed out by toBuffer do not change when the writer goes on (and grows)', () => {
  const w = new SshWriter(8).string('abc');
  const first = w.toBuffer();
  const copy = Buffer.from(first);
  w.string('x'.repeat(100)).raw(w.space(3).fill(1));
  assert.ok(first.equals(copy));
  assert.ok(w.toBuffer().subarray(0, first.length).equals(copy));
  assert.equal(w.length, first.length + 4 + 100 + 6);
});
