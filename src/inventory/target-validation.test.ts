import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isAirlockError } from '../errors.ts';
import { canonicalCidrs, checkLoginUser, checkProjectName, checkTargetName, formatAddress, parseAddress, parseHost, parsePort } from './target-validation.ts';

const badRequest = (err: unknown) => isAirlockError(err, 'bad_request');

test('project names: lower-case, digits, _ and -, at most 63, not starting with a sign', () => {
  for (const ok of ['genomics', 'p1', '0day', 'climate_2026', 'a-b', 'a'.repeat(63)]) assert.doesNotThrow(() => checkProjectName(ok), ok);
  for (const bad of ['', 'Genomics', '-x', '_x', 'a b', 'a.b', 'a'.repeat(64), 'é', 'x\n']) assert.throws(() => checkProjectName(bad), badRequest, bad);
});

test('target names are single DNS labels (they become ssh Host aliases)', () => {
  for (const ok of ['vm1', 'job-1234', '0', 'a'.repeat(63)]) assert.doesNotThrow(() => checkTargetName(ok), ok);
  for (const bad of ['', 'VM1', 'vm_1', 'vm.1', '-vm', 'vm*', 'vm?', 'a'.repeat(64), 'vm 1', '!vm']) assert.throws(() => checkTargetName(bad), badRequest, bad);
});

test('login users are Unix account names', () => {
  for (const ok of ['ubuntu', 'ec2-user', '_svc', 'a.b', 'a'.repeat(32)]) assert.doesNotThrow(() => checkLoginUser(ok), ok);
  for (const bad of ['', 'Root', '1user', '-u', 'a b', 'a'.repeat(33), 'u:x', 'u/x']) assert.throws(() => checkLoginUser(bad), badRequest, bad);
});

test('ports: decimal 1–65535, no sign, no leading zero', () => {
  assert.equal(parsePort('22'), 22);
  assert.equal(parsePort('65535'), 65535);
  for (const bad of ['0', '65536', '022', '-1', '+22', '2 2', '', '0x16', '1e3', '99999']) assert.throws(() => parsePort(bad), badRequest, bad);
});

test('hosts are canonicalised: IP literals in RFC 5952 form, names lower-cased', () => {
  assert.equal(parseHost('10.0.0.5'), '10.0.0.5');
  assert.equal(parseHost('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
  assert.equal(parseHost('[2001:db8::1]'), '2001:db8::1');
  assert.equal(parseHost('::ffff:192.0.2.1'), '192.0.2.1');
  assert.equal(parseHost('Node01.HPC.Example.org.'), 'node01.hpc.example.org');
  assert.equal(parseHost('localhost'), 'localhost');
});

test('hosts that are not addresses or names are refused, legacy numeric forms included', () => {
  // inet_aton would read these as 127.0.0.1; they must not slip in as "names".
  for (const bad of ['2130706433', '0x7f000001', '127.1', '0177.0.0.1', '127.0.0.01', 'a.123', 'x.0x1f']) {
    assert.throws(() => parseHost(bad), badRequest, bad);
  }
  for (const bad of ['', '.', 'a..b', '-a.b', 'a-.b', 'a_b.org', 'a b', 'fe80::1%eth0', '[10.0.0.1]', '[fe80::1%25eth0]', 'a'.repeat(64) + '.org', `${'a.'.repeat(127)}org`, 'host:22', '1.2.3.4.5']) {
    assert.throws(() => parseHost(bad), badRequest, bad);
  }
});

test('addresses: HOST, HOST:PORT, [V6], [V6]:PORT, bare V6; port defaults to 22', () => {
  assert.deepEqual(parseAddress('10.0.0.5:2222'), { host: '10.0.0.5', port: 2222 });
  assert.deepEqual(parseAddress('vm1.example.org'), { host: 'vm1.example.org', port: 22 });
  assert.deepEqual(parseAddress('[2001:db8::1]:2200'), { host: '2001:db8::1', port: 2200 });
  assert.deepEqual(parseAddress('[2001:db8::1]'), { host: '2001:db8::1', port: 22 });
  assert.deepEqual(parseAddress('2001:db8::1'), { host: '2001:db8::1', port: 22 });
  for (const bad of ['10.0.0.5:', '10.0.0.5:0', '10.0.0.5:x', ':22', '[2001:db8::1]:', '[2001:db8::1]22', 'a:b:c']) assert.throws(() => parseAddress(bad), badRequest, bad);
  assert.equal(formatAddress('2001:db8::1', 22), '[2001:db8::1]:22');
  assert.equal(formatAddress('vm1', 2200), 'vm1:2200');
});

test('any canonical IP address round-trips through parseAddress and formatAddress', () => {
  fc.assert(fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), fc.integer({ min: 1, max: 65535 }), (ip, port) => {
    const { host } = parseAddress(formatAddress(parseHost(ip), port));
    assert.equal(host, parseHost(ip));
    assert.deepEqual(parseAddress(formatAddress(host, port)), { host, port });
  }));
});

test('client CIDRs are canonicalised and de-duplicated; malformed ones refused', () => {
  assert.deepEqual(canonicalCidrs(['192.0.2.0/24', '2001:DB8::/32', '192.0.2.0/24', '10.1.2.3']), ['192.0.2.0/24', '2001:db8::/32', '10.1.2.3/32']);
  for (const bad of ['192.0.2.1/24', '10.0.0.0/33', 'x', '']) assert.throws(() => canonicalCidrs([bad]), badRequest, bad);
  assert.throws(() => canonicalCidrs(Array.from({ length: 65 }, (_, i) => `10.0.${i}.0/24`)), badRequest);
});
