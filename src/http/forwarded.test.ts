import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forwardedNodeAddress, parseForwarded, parseXForwardedFor, resolveClientAddress, trustedProxies } from './forwarded.ts';

const xff = trustedProxies(['127.0.0.1', '10.0.0.0/8', 'fd00::/8']);
const fwd = trustedProxies(['127.0.0.1', '10.0.0.0/8'], 'forwarded');

test('forwarded nodes: addresses with and without ports and brackets, canonicalised; everything else unreadable', () => {
  assert.equal(forwardedNodeAddress('192.0.2.60'), '192.0.2.60');
  assert.equal(forwardedNodeAddress(' 192.0.2.60:4711 '), '192.0.2.60');
  assert.equal(forwardedNodeAddress('[2001:DB8:cafe::17]:4711'), '2001:db8:cafe::17');
  assert.equal(forwardedNodeAddress('[2001:db8::1]'), '2001:db8::1');
  assert.equal(forwardedNodeAddress('2001:db8:0:0::1'), '2001:db8::1');
  assert.equal(forwardedNodeAddress('::ffff:192.0.2.1'), '192.0.2.1');
  for (const bad of ['unknown', '_hidden', 'example.com', '', '1.2.3', '0x7f000001', '010.0.0.1', 'fe80::1%eth0', '1.2.3.4:99999', '[1.2.3.4', '1.2.3.4 5.6.7.8']) {
    assert.equal(forwardedNodeAddress(bad), undefined, bad);
  }
});

test('X-Forwarded-For and Forwarded (RFC 7239 §4 examples) parse left to right', () => {
  assert.deepEqual(parseXForwardedFor('203.0.113.9, 10.0.0.2,unknown'), ['203.0.113.9', '10.0.0.2', undefined]);
  assert.deepEqual(parseForwarded('for="_gazonk"'), [undefined]);
  assert.deepEqual(parseForwarded('For="[2001:db8:cafe::17]:4711"'), ['2001:db8:cafe::17']);
  assert.deepEqual(parseForwarded('for=192.0.2.60;proto=http;by=203.0.113.43'), ['192.0.2.60']);
  assert.deepEqual(parseForwarded('for=192.0.2.43, for=198.51.100.17'), ['192.0.2.43', '198.51.100.17']);
  assert.deepEqual(parseForwarded('for=192.0.2.43,, proto=https , for="198.51.100.17;x,y"'), ['192.0.2.43', undefined, undefined]);
  assert.deepEqual(parseForwarded('for=192.0.2.43;for=192.0.2.44'), [undefined], 'a repeated for is ambiguous');
  for (const bad of ['for="192.0.2.43', 'for', 'for=1.2.3.4 junk', ';for=1.2.3.4', 'for=1.2.3.4;;', 'for="\\']) assert.equal(parseForwarded(bad), null, bad);
});

test('the peer is the client unless it is a trusted proxy; then the rightmost untrusted hop', () => {
  // No trusted proxies configured: headers are never read.
  assert.equal(resolveClientAddress('::ffff:127.0.0.1', '198.51.100.7', trustedProxies([])), '127.0.0.1');
  // An untrusted peer that sets the header: ignored.
  assert.equal(resolveClientAddress('127.0.0.2', '198.51.100.7', xff), '127.0.0.2');
  // A trusted peer: honoured, canonicalised.
  assert.equal(resolveClientAddress('127.0.0.1', '198.51.100.7', xff), '198.51.100.7');
  assert.equal(resolveClientAddress('::ffff:127.0.0.1', '[2001:0db8::7]:5000', xff), '2001:db8::7');
  assert.equal(resolveClientAddress('127.0.0.1', undefined, xff), '127.0.0.1');
  // What the client wrote in front of the proxy's own entry is never believed.
  assert.equal(resolveClientAddress('127.0.0.1', '1.1.1.1, 198.51.100.7', xff), '198.51.100.7');
  assert.equal(resolveClientAddress('127.0.0.1', 'garbage, <script>, 198.51.100.7', xff), '198.51.100.7');
  // Trusted hops inside the chain are skipped.
  assert.equal(resolveClientAddress('127.0.0.1', '1.1.1.1, 198.51.100.7, 10.1.2.3, fd00::5', xff), '198.51.100.7');
  // Every hop trusted: the leftmost.
  assert.equal(resolveClientAddress('127.0.0.1', '10.9.9.9, 10.1.2.3', xff), '10.9.9.9');
  // Unreadable where an address is needed: the peer, never the garbage.
  for (const bad of ['unknown', '198.51.100.7, not-an-ip', '', ' , ', '198.51.100.7, 10.0.0.1, _hidden', 'x'.repeat(5000)]) {
    assert.equal(resolveClientAddress('127.0.0.1', bad, xff), '127.0.0.1', JSON.stringify(bad.slice(0, 40)));
  }
  assert.equal(resolveClientAddress('127.0.0.1', Array.from({ length: 100 }, () => '10.0.0.1').join(','), xff), '127.0.0.1');
  // The Forwarded header, when that is the configured one.
  assert.equal(resolveClientAddress('127.0.0.1', 'for=1.1.1.1, for="198.51.100.7:443";proto=https', fwd), '198.51.100.7');
  assert.equal(resolveClientAddress('127.0.0.1', 'for="1.1.1.1', fwd), '127.0.0.1');
  assert.equal(resolveClientAddress('127.0.0.2', 'for=198.51.100.7', fwd), '127.0.0.2');
  // Not an IP peer: passed through as is.
  assert.equal(resolveClientAddress(null, '198.51.100.7', xff), null);
});
