import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlockList } from 'node:net';
import fc from 'fast-check';
import { canonicalIp, cidrContains, cidrListContains, formatCidr, parseCidr, parseCidrList, parseIp } from './cidr.ts';
import { onlyAirlockErrors, throwsAirlock } from './ssh-keygen.test-helper.ts';

test('IPv4 blocks contain exactly their addresses', () => {
  assert.ok(cidrContains('10.0.0.0/8', '10.255.1.2'));
  assert.ok(!cidrContains('10.0.0.0/8', '11.0.0.0'));
  assert.ok(cidrContains('192.168.1.7', '192.168.1.7'));
  assert.ok(!cidrContains('192.168.1.7', '192.168.1.8'));
  assert.ok(cidrContains('0.0.0.0/0', '203.0.113.9'));
  assert.ok(cidrContains('192.168.1.0/25', '192.168.1.127'));
  assert.ok(!cidrContains('192.168.1.0/25', '192.168.1.128'));
  assert.ok(!cidrContains('10.0.0.0/8', '2001:db8::1'));
});

test('IPv6 blocks, compressed forms and embedded IPv4', () => {
  assert.ok(cidrContains('2001:db8::/32', '2001:db8:ffff::1'));
  assert.ok(!cidrContains('2001:db8::/32', '2001:db9::1'));
  assert.ok(cidrContains('::1', '0:0:0:0:0:0:0:1'));
  assert.ok(cidrContains('2001:DB8::/48', '2001:db8:0:ffff::'));
  assert.ok(cidrContains('::/0', '::'));
  assert.ok(cidrContains('64:ff9b::/96', '64:ff9b::192.0.2.1'));
  assert.equal(canonicalIp('2001:0db8:0000:0000:0000:0000:0000:0001'), '2001:db8::1');
  assert.equal(canonicalIp('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1');
  assert.equal(canonicalIp('::'), '::');
  assert.equal(canonicalIp('1:2:3:4:5:6:7:8'), '1:2:3:4:5:6:7:8');
});

test('IPv4-mapped IPv6 addresses count as IPv4, in addresses and in blocks', () => {
  assert.deepEqual(parseIp('::ffff:10.1.2.3'), { family: 4, bytes: Buffer.from([10, 1, 2, 3]) });
  assert.equal(canonicalIp('::FFFF:0a01:0203'), '10.1.2.3');
  assert.ok(cidrContains('10.0.0.0/8', '::ffff:10.1.2.3'));
  assert.ok(!cidrContains('10.0.0.0/8', '::ffff:11.1.2.3'));
  assert.equal(formatCidr(parseCidr('::ffff:10.0.0.0/104')), '10.0.0.0/8');
  assert.ok(cidrContains('::ffff:10.0.0.0/104', '10.9.9.9'));
  // Families never cross (OpenSSH's addr_netmatch): an IPv6 block does not match an IPv4 client.
  assert.ok(!cidrContains('::/0', '10.0.0.1'));
  assert.ok(!cidrContains('::/0', '::ffff:10.0.0.1'));
  assert.ok(!cidrContains('2001:db8::/32', '10.0.0.1'));
});

test('malformed addresses and blocks are refused with bad_request', () => {
  for (const s of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.4 ', ' 1.2.3.4', 'fe80::1%eth0', '1:2:3:4:5:6:7:8:9', '1::2::3', ':1::', 'g::1', '::1.2.3', '1.2.3.4::']) {
    throwsAirlock(() => parseIp(s), 'bad_request');
  }
  throwsAirlock(() => parseCidr('10.0.0.1/8'), 'bad_request', /did you mean 10\.0\.0\.0\/8/);
  throwsAirlock(() => parseCidr('10.0.0.0/33'), 'bad_request', /prefix/);
  throwsAirlock(() => parseCidr('10.0.0.0/08'), 'bad_request', /prefix/);
  throwsAirlock(() => parseCidr('10.0.0.0/'), 'bad_request', /prefix/);
  throwsAirlock(() => parseCidr('::/129'), 'bad_request', /prefix/);
  throwsAirlock(() => parseCidr('fe80::%1/64'), 'bad_request', /zone/);
  throwsAirlock(() => parseCidrList('10.0.0.0/8,,::1'), 'bad_request', /empty entry/);
  throwsAirlock(() => parseCidrList('10.0.0.0/8, ::1'), 'bad_request');
  throwsAirlock(() => parseCidrList(''), 'bad_request');
  throwsAirlock(() => cidrContains('10.0.0.0/8', 'not-an-address'), 'bad_request');
});

test('CIDR lists match any of their blocks', () => {
  assert.ok(cidrListContains('192.0.2.0/24,2001:db8::/32', '2001:db8::5'));
  assert.ok(cidrListContains('192.0.2.0/24,2001:db8::/32', '::ffff:192.0.2.200'));
  assert.ok(!cidrListContains('192.0.2.0/24,2001:db8::/32', '198.51.100.1'));
});

const ipv4 = fc.ipV4();
const ipv6 = fc.ipV6();

test('property: matches node:net BlockList for random blocks and addresses', () => {
  fc.assert(
    fc.property(fc.oneof(ipv4, ipv6), fc.nat(128), fc.oneof(ipv4, ipv6), (net, rawPrefix, addr) => {
      const base = parseIp(net);
      // BlockList has no notion of IPv4-mapped canonicalisation; compare on plain addresses only.
      fc.pre(!/ffff:/i.test(net) && !/ffff:/i.test(addr) && base.family === (net.includes(':') ? 6 : 4));
      const prefix = rawPrefix % (base.family === 4 ? 33 : 129);
      const block = parseCidr(`${net}/${base.family === 4 ? 32 : 128}`);
      const masked = { ...block, prefix, bytes: maskTo(block.bytes, prefix) };
      const list = new BlockList();
      list.addSubnet(formatIpText(masked.bytes), prefix, base.family === 4 ? 'ipv4' : 'ipv6');
      const a = parseIp(addr);
      const expected = a.family === base.family && list.check(addr, a.family === 4 ? 'ipv4' : 'ipv6');
      assert.equal(cidrContains(`${formatIpText(masked.bytes)}/${prefix}`, addr), expected);
    }),
    { numRuns: 300 },
  );
});

test('property: arbitrary strings only ever throw bad_request', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 60 }), fc.oneof(ipv4, ipv6), (s, addr) => {
      onlyAirlockErrors(() => parseCidrList(s));
      onlyAirlockErrors(() => cidrContains(addr.includes(':') ? '::/0' : '0.0.0.0/0', s));
    }),
    { numRuns: 200 },
  );
});

function maskTo(bytes: Buffer, prefix: number): Buffer {
  const out = Buffer.from(bytes);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    out[i] = out[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

function formatIpText(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return groups.join(':');
}

test('canonicalIp gives the same answers from its memory, keeps refusing bad input, and stays bounded', () => {
  for (let round = 0; round < 2; round++) {
    assert.equal(canonicalIp('2001:0db8:0000:0000:0000:0000:0000:0001'), '2001:db8::1');
    assert.equal(canonicalIp('::ffff:10.1.2.3'), '10.1.2.3');
    assert.throws(() => canonicalIp('10.1.2.03'), /not an IP address/);
    assert.throws(() => canonicalIp('fe80::1%eth0'), /zone ID/);
  }
  // More distinct addresses than it remembers: every answer is still computed right.
  for (let i = 0; i < 3000; i++) assert.equal(canonicalIp(`::ffff:10.0.${i >> 8}.${i & 255}`), `10.0.${i >> 8}.${i & 255}`);
});
