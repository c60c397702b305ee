import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonicalHost, isLoopbackName, parseInetAton } from './address.ts';
import { forbiddenClass } from './forbidden.ts';
import { parseIp } from '../ssh/cidr.ts';

const text = (s: string): string => {
  const c = canonicalHost(s);
  assert.equal(c.kind, 'ip', `${s} should be an address, got ${JSON.stringify(c)}`);
  return c.kind === 'ip' ? c.text : '';
};

test('every inet_aton spelling of 127.0.0.1 canonicalises to 127.0.0.1', () => {
  for (const s of ['127.0.0.1', '2130706433', '0x7f000001', '0X7F000001', '0177.0.0.1', '0177.0.0.01', '127.1', '127.0.1', '0x7f.1', '0x7f.0.0.0x1', '127.0.0.1.', '017700000001', '[127.0.0.1]']) {
    assert.equal(text(s), '127.0.0.1', s);
  }
});

test('IPv6 spellings: mapped, expanded, upper case, brackets, zone IDs', () => {
  assert.equal(text('::ffff:127.0.0.1'), '127.0.0.1');
  assert.equal(text('::FFFF:7F00:1'), '127.0.0.1');
  assert.equal(text('0:0:0:0:0:ffff:7f00:0001'), '127.0.0.1');
  assert.equal(text('[::1]'), '::1');
  assert.equal(text('0000:0000:0000:0000:0000:0000:0000:0001'), '::1');
  assert.equal(text('::1%lo'), '::1');
  assert.equal(text('fe80::1%eth0'), 'fe80::1');
  assert.equal(text('[FE80::1%25eth0]'), 'fe80::1');
  assert.equal(text('2001:DB8::1'), '2001:db8::1');
  assert.equal(text('::'), '::');
});

test('names are lower-cased without the trailing dot; junk is invalid, never a name', () => {
  assert.deepEqual(canonicalHost('VM1.Example.ORG.'), { kind: 'name', name: 'vm1.example.org' });
  assert.deepEqual(canonicalHost('node_01'), { kind: 'name', name: 'node_01' });
  for (const s of ['', ' ', 'a b', 'vm1\n', '256.1.1.1', '1.2.3.4.5', '08.0.0.1', '0x1.0x100.1', '4294967296', 'host.123', 'a..b', '-a', 'a-', '127.0.0.1%lo', '::ffff:127.1', ':::', 'héllo', 'x'.repeat(300)]) {
    assert.equal(canonicalHost(s).kind, 'invalid', s);
  }
});

test('inet_aton grammar: ranges per part and for the last part', () => {
  assert.deepEqual(parseInetAton('1.2.65535'), { family: 4, bytes: Buffer.from([1, 2, 255, 255]) });
  assert.equal(parseInetAton('1.2.65536'), 'invalid');
  assert.deepEqual(parseInetAton('1.16777215'), { family: 4, bytes: Buffer.from([1, 255, 255, 255]) });
  assert.equal(parseInetAton('1.16777216'), 'invalid');
  assert.deepEqual(parseInetAton('0x'), { family: 4, bytes: Buffer.alloc(4) });
  assert.equal(parseInetAton('example'), undefined);
});

test('loopback names', () => {
  for (const n of ['localhost', 'foo.localhost', 'ip6-localhost', 'localhost.localdomain']) assert.ok(isLoopbackName(n), n);
  assert.ok(!isLoopbackName('localhostx'));
});

test('canonicalHost never throws and its address text is a fixed point (property)', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 80 }), fc.stringMatching(/^[0-9a-fA-Fx.:%[\]]{0,40}$/)), (s) => {
      const c = canonicalHost(s);
      if (c.kind === 'ip') {
        const again = canonicalHost(c.text);
        assert.equal(again.kind, 'ip');
        assert.equal(again.kind === 'ip' ? again.text : '', c.text);
      }
    }),
    { numRuns: 3000 },
  );
});

test('inet_aton forms agree with the WHATWG URL host parser (property, an independent oracle)', () => {
  const part = (v: number): fc.Arbitrary<string> => fc.constantFrom(String(v), `0x${v.toString(16)}`, v === 0 ? '0' : `0${v.toString(8)}`);
  const form = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 4 }))
    .chain(([a, b, c, d, n]) => {
      const bytes = [a, b, c, d];
      const lead = bytes.slice(0, n - 1);
      const rest = bytes.slice(n - 1).reduce((acc, x) => acc * 256 + x, 0);
      return fc.tuple(...lead.map(part), part(rest)).map((ps) => ({ s: ps.join('.'), want: bytes.join('.') }));
    });
  fc.assert(
    fc.property(form, ({ s, want }) => {
      assert.equal(text(s), want);
      assert.equal(new URL(`http://${s}/`).hostname, want);
    }),
    { numRuns: 2000 },
  );
});

test('forbidden classes', () => {
  const cls = (s: string) => forbiddenClass(parseIp(s));
  assert.equal(cls('127.0.0.1'), 'loopback');
  assert.equal(cls('127.255.255.254'), 'loopback');
  assert.equal(cls('::1'), 'loopback');
  assert.equal(cls('0.0.0.0'), 'unspecified');
  assert.equal(cls('0.1.2.3'), 'unspecified');
  assert.equal(cls('::'), 'unspecified');
  assert.equal(cls('169.254.169.254'), 'metadata');
  assert.equal(cls('169.254.1.1'), 'link_local');
  assert.equal(cls('fd00:ec2::254'), 'metadata');
  assert.equal(cls('100.100.100.200'), 'metadata');
  assert.equal(cls('fe80::1'), 'link_local');
  assert.equal(cls('febf::1'), 'link_local');
  assert.equal(cls('224.0.0.1'), 'multicast');
  assert.equal(cls('ff02::1'), 'multicast');
  assert.equal(cls('255.255.255.255'), 'reserved');
  assert.equal(cls('::127.0.0.1'), 'loopback');
  assert.equal(cls('64:ff9b::169.254.169.254'), 'metadata');
  assert.equal(cls('2002:7f00:1::1'), 'loopback');
  assert.equal(cls('10.0.0.5'), undefined);
  assert.equal(cls('192.0.2.1'), undefined);
  assert.equal(cls('2001:db8::1'), undefined);
  assert.equal(cls('fec0::1'), 'reserved');
  assert.equal(forbiddenClass(parseIp('127.0.0.2'), { allowLoopback: true }), undefined);
  assert.equal(forbiddenClass(parseIp('169.254.169.254'), { allowLoopback: true }), 'metadata');
  assert.equal(forbiddenClass(parseIp('0.0.0.0'), { allowLoopback: true }), 'unspecified');
});
