import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { looksLikeProxyHeader, MAX_HEADER_LENGTH, MAX_V1_LENGTH, parseProxyHeader, V2_SIGNATURE } from './proxy-protocol.ts';

/** A v2 header as HAProxy writes it (spec §2.2). */
function v2(opts: { command?: number; family?: number; transport?: number; body: Buffer; version?: number }): Buffer {
  const head = Buffer.alloc(16);
  V2_SIGNATURE.copy(head);
  head[12] = ((opts.version ?? 2) << 4) | (opts.command ?? 1);
  head[13] = ((opts.family ?? 1) << 4) | (opts.transport ?? 1);
  head.writeUInt16BE(opts.body.length, 14);
  return Buffer.concat([head, opts.body]);
}

function inet4(src: number[], dst: number[], sport: number, dport: number): Buffer {
  const b = Buffer.alloc(12);
  Buffer.from(src).copy(b, 0);
  Buffer.from(dst).copy(b, 4);
  b.writeUInt16BE(sport, 8);
  b.writeUInt16BE(dport, 10);
  return b;
}

test('v1: TCP4, TCP6 and UNKNOWN lines; the length says where the SSH bytes start', () => {
  const line = 'PROXY TCP4 192.0.2.7 198.51.100.1 51234 22\r\n';
  const r = parseProxyHeader(Buffer.from(`${line}SSH-2.0-OpenSSH_9.2\r\n`));
  assert.deepEqual(r, { kind: 'proxy', version: 1, source: { address: '192.0.2.7', port: 51234 }, destination: { address: '198.51.100.1', port: 22 }, length: line.length });
  const six = parseProxyHeader(Buffer.from('PROXY TCP6 2001:DB8:0:0::1 ::1 1 65535\r\n'));
  assert.equal(six.kind === 'proxy' && six.source.address, '2001:db8::1');
  const mapped = parseProxyHeader(Buffer.from('PROXY TCP6 ::ffff:192.0.2.9 ::1 1 2\r\n'));
  assert.equal(mapped.kind === 'proxy' && mapped.source.address, '192.0.2.9');
  assert.deepEqual(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n')), { kind: 'local', version: 1, length: 15 });
  assert.equal(parseProxyHeader(Buffer.from('PROXY UNKNOWN ffff::1 ::1 1 2\r\n')).kind, 'local');
});

test('v1: malformed lines are invalid, partial lines incomplete', () => {
  for (const bad of [
    'PROXY TCP4 192.0.2.7 198.51.100.1 51234\r\n', // missing port
    'PROXY TCP4 192.0.2.7 198.51.100.1 51234 22 x\r\n',
    'PROXY TCP4 2001:db8::1 198.51.100.1 1 2\r\n', // family mismatch
    'PROXY TCP6 192.0.2.7 ::1 1 2\r\n',
    'PROXY TCP4 192.0.2.07 198.51.100.1 1 2\r\n', // leading zero (octal in some parsers)
    'PROXY TCP4 192.0.2.7 198.51.100.1 65536 2\r\n',
    'PROXY TCP4 192.0.2.7 198.51.100.1 022 2\r\n',
    'PROXY TCP4  192.0.2.7 198.51.100.1 1 2\r\n', // double space
    'PROXY TCP4 192.0.2.7 198.51.100.1 1 2\n',
    'PROXY TCP4 192.0.2.7 198.51.100.1 1 2\rX',
    'PROXY UDP4 192.0.2.7 198.51.100.1 1 2\r\n',
    'PROXY TCP4 192.0.2.7\t198.51.100.1 1 2\r\n',
    'PROXY TCP4 fe80::1%eth0 ::1 1 2\r\n',
  ]) {
    assert.equal(parseProxyHeader(Buffer.from(bad)).kind, 'invalid', JSON.stringify(bad));
  }
  assert.equal(parseProxyHeader(Buffer.from('PROXY TCP4 192.0.2.7 198.51')).kind, 'incomplete');
  assert.equal(parseProxyHeader(Buffer.from('PRO')).kind, 'incomplete');
  assert.equal(parseProxyHeader(Buffer.from(`PROXY TCP4 ${'1'.repeat(200)}`)).kind, 'invalid', 'over 107 bytes without CR LF');
  assert.equal(parseProxyHeader(Buffer.from('SSH-2.0-OpenSSH_9.2\r\n')).kind, 'invalid', 'no header at all');
});

test('v2: PROXY over TCP/IPv4 and IPv6, TLVs skipped; LOCAL, UNSPEC and UNIX use the peer', () => {
  const h = v2({ body: Buffer.concat([inet4([203, 0, 113, 5], [10, 0, 0, 1], 40000, 2222), Buffer.from([0x04, 0x00, 0x02, 0xab, 0xcd])]) });
  const r = parseProxyHeader(Buffer.concat([h, Buffer.from('SSH-2.0-x\r\n')]));
  assert.deepEqual(r, { kind: 'proxy', version: 2, source: { address: '203.0.113.5', port: 40000 }, destination: { address: '10.0.0.1', port: 2222 }, length: h.length });
  const six = Buffer.alloc(36);
  six[0] = 0x20; six[1] = 0x01; six[2] = 0x0d; six[3] = 0xb8; six[15] = 1;
  six[16 + 10] = 0xff; six[16 + 11] = 0xff; six[16 + 15] = 9;
  six.writeUInt16BE(1234, 32);
  const r6 = parseProxyHeader(v2({ family: 2, body: six }));
  assert.equal(r6.kind === 'proxy' && r6.source.address, '2001:db8::1');
  assert.equal(r6.kind === 'proxy' && r6.destination.address, '0.0.0.9');
  assert.equal(r6.kind === 'proxy' && r6.source.port, 1234);
  assert.deepEqual(parseProxyHeader(v2({ command: 0, family: 0, transport: 0, body: Buffer.alloc(0) })), { kind: 'local', version: 2, length: 16 });
  assert.equal(parseProxyHeader(v2({ command: 0, body: inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2) })).kind, 'local', 'LOCAL ignores its addresses');
  assert.equal(parseProxyHeader(v2({ family: 0, transport: 0, body: Buffer.alloc(0) })).kind, 'local');
  assert.equal(parseProxyHeader(v2({ family: 3, body: Buffer.alloc(216) })).kind, 'local');
});

test('v2: bad version, command, family, transport, short bodies and oversize lengths are invalid', () => {
  const body = inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2);
  assert.equal(parseProxyHeader(v2({ version: 1, body })).kind, 'invalid');
  assert.equal(parseProxyHeader(v2({ command: 2, body })).kind, 'invalid');
  assert.equal(parseProxyHeader(v2({ family: 4, body })).kind, 'invalid');
  assert.equal(parseProxyHeader(v2({ transport: 2, body })).kind, 'invalid', 'UDP');
  assert.equal(parseProxyHeader(v2({ transport: 3, body })).kind, 'invalid');
  assert.equal(parseProxyHeader(v2({ body: body.subarray(0, 11) })).kind, 'invalid');
  assert.equal(parseProxyHeader(v2({ family: 2, body: Buffer.alloc(35) })).kind, 'invalid');
  const big = v2({ body: Buffer.alloc(0) });
  big.writeUInt16BE(65535, 14);
  assert.equal(parseProxyHeader(big).kind, 'invalid', 'a 64 KiB header is not waited for');
  assert.equal(parseProxyHeader(v2({ body }).subarray(0, 20)).kind, 'incomplete');
  assert.equal(parseProxyHeader(V2_SIGNATURE.subarray(0, 5)).kind, 'incomplete');
});

test('looksLikeProxyHeader: any prefix of either signature, never an SSH banner', () => {
  for (let i = 1; i <= 12; i++) assert.ok(looksLikeProxyHeader(V2_SIGNATURE.subarray(0, i)));
  for (let i = 1; i <= 6; i++) assert.ok(looksLikeProxyHeader(Buffer.from('PROXY TCP4'.slice(0, i))));
  assert.ok(!looksLikeProxyHeader(Buffer.from('SSH-2.0-OpenSSH_9.2\r\n')));
  assert.ok(!looksLikeProxyHeader(Buffer.alloc(0)));
  assert.ok(!looksLikeProxyHeader(Buffer.from('PROXYTCP4')));
});

test('hostile input (property): never throws, every verdict is bounded and self-consistent', () => {
  const anyBytes = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));
  const v1ish = fc.string({ maxLength: 140 }).map((s) => Buffer.from(`PROXY ${s}`, 'latin1'));
  const v2ish = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 65535 }), fc.uint8Array({ maxLength: 300 }))
    .map(([vc, fp, len, rest]) => {
      const h = Buffer.alloc(16);
      V2_SIGNATURE.copy(h);
      h[12] = vc;
      h[13] = fp;
      h.writeUInt16BE(len, 14);
      return Buffer.concat([h, Buffer.from(rest)]);
    });
  fc.assert(fc.property(fc.oneof(anyBytes, v1ish, v2ish), (buf) => {
    const r = parseProxyHeader(buf);
    if (r.kind === 'proxy' || r.kind === 'local') {
      assert.ok(r.length > 0 && r.length <= buf.length && r.length <= MAX_HEADER_LENGTH);
      if (r.version === 1) assert.ok(r.length <= MAX_V1_LENGTH);
    }
    if (r.kind === 'proxy') {
      assert.ok(r.source.port >= 0 && r.source.port <= 65535);
      assert.match(r.source.address, /^[0-9a-f.:]+$/);
    }
    // More bytes never turn a decided header into a different one.
    if (r.kind !== 'incomplete') assert.deepEqual(parseProxyHeader(Buffer.concat([buf, Buffer.from('SSH-2.0-x\r\n')])), r);
    // A decided header is decided on its own bytes.
    if (r.kind === 'proxy' || r.kind === 'local') assert.deepEqual(parseProxyHeader(buf.subarray(0, r.length)), r);
  }), { numRuns: 2000 });
});

test('byte-by-byte delivery gives the same answer as one chunk (property)', () => {
  fc.assert(fc.property(fc.ipV4(), fc.ipV4(), fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }), (src, dst, sp, dp) => {
    const whole = Buffer.from(`PROXY TCP4 ${src} ${dst} ${sp} ${dp}\r\n`);
    const r = parseProxyHeader(whole);
    assert.equal(r.kind, 'proxy');
    for (let i = 0; i < whole.length; i++) assert.equal(parseProxyHeader(whole.subarray(0, i)).kind, 'incomplete');
    const bin = v2({ body: inet4(src.split('.').map(Number), dst.split('.').map(Number), sp, dp) });
    const r2 = parseProxyHeader(bin);
    assert.deepEqual(r2.kind === 'proxy' && r2.source, { address: src, port: sp });
    for (let i = 0; i < bin.length; i++) assert.equal(parseProxyHeader(bin.subarray(0, i)).kind, 'incomplete');
  }), { numRuns: 300 });
});
