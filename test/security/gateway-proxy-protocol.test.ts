/**
 * Checklist 11 and issue 10 item 1 (SSH side): the PROXY protocol on the SSH listener, with a real
 * HAProxy in front (`send-proxy-v2` and `send-proxy`), connecting onward from 127.0.0.2, the one
 * trusted address (`AIRLOCK_TRUSTED_PROXIES`). A real `ssh` login through either frontend is audited
 * with the client's own address, and the certificate's `source-address` is checked against it (not
 * against the proxy's); a PROXY header from any other peer, or from a client behind the proxy, drops the
 * connection and is audited; the trusted peer must send a header; its v2 LOCAL health checks are
 * served and never penalised.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { waitFor } from '../harness/processes.ts';
import { sshF, startHttpService, startTestGateway, writeSshConfig, type TestGateway, type UserKey } from '../harness/gateway.ts';
import { haproxyAvailable, startHaproxy, type TestHaproxy } from '../harness/haproxy.ts';
import { V2_SIGNATURE } from '../../src/gateway/proxy-protocol.ts';

const PROXY_OUT = '127.0.0.2';
const skip = haproxyAvailable() ? false : 'HAProxy is not installed (apt-get install haproxy; .ci/run does it)';

let gw: TestGateway;
let hap: TestHaproxy;
let web: Awaited<ReturnType<typeof startHttpService>>;
let alice: UserKey;
let cfg: string;

before(async () => {
  if (skip) return;
  web = await startHttpService('127.0.0.1');
  gw = await startTestGateway({ AIRLOCK_TRUSTED_PROXIES: `${PROXY_OUT}/32`, AIRLOCK_GATEWAY_ALLOW_LOOPBACK_TARGETS: '1' });
  // alice's certificate carries source-address 127.0.0.5,127.0.0.6: the proxy's 127.0.0.2 is outside it.
  alice = await gw.user('alice', { sourceCidrs: ['127.0.0.5/32', '127.0.0.6/32'] });
  await gw.project('genomics', ['alice']);
  // A target that only 127.0.0.5 may reach (the target's client CIDRs).
  await gw.target({ name: 'vm1', project: 'genomics', host: '127.0.0.1', port: web.port, allowedCidrs: ['127.0.0.5/32'] });
  hap = await startHaproxy(gw.dir, { host: gw.host, port: gw.port }, PROXY_OUT);
  // The gateway's key, also under the proxy's ports.
  const line = readFileSync(gw.knownHosts, 'utf8').trim();
  const key = line.slice(line.indexOf(' ') + 1);
  const knownHosts = join(gw.dir, 'known_hosts_proxied');
  writeFileSync(knownHosts, [line, `[127.0.0.1]:${hap.v2Port} ${key}`, `[127.0.0.1]:${hap.v1Port} ${key}`, ''].join('\n'));
  cfg = writeSshConfig(join(gw.dir, 'ssh_config'), knownHosts, [
    { alias: 'via-v2', hostName: '127.0.0.1', port: hap.v2Port, user: 'alice', key: alice },
    { alias: 'via-v1', hostName: '127.0.0.1', port: hap.v1Port, user: 'alice', key: alice },
    { alias: 'direct', hostName: gw.host, port: gw.port, user: 'alice', key: alice },
  ]);
});

after(async () => {
  await hap?.stop();
  await gw?.stop();
  await web?.stop();
});

/**
 * A raw connection from `from` to `port` that writes `bytes`. Resolves with what the server sent and how
 * long the connection lasted; it is closed at the first line (`untilLine`) or after 10 s at the latest.
 */
function raw(from: string, port: number, bytes: Buffer, untilLine = true): Promise<{ got: string; ms: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const s = connect({ host: '127.0.0.1', port, localAddress: from });
    let got = '';
    s.on('error', () => {});
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (untilLine && got.includes('\r\n')) s.destroy();
    });
    s.once('connect', () => s.write(bytes));
    const timer = setTimeout(() => s.destroy(), 10_000);
    s.once('close', () => {
      clearTimeout(timer);
      resolve({ got, ms: Date.now() - started });
    });
  });
}

test('a real ssh login through HAProxy (PROXY v2 and v1) is audited with the client\'s address and passes its source-address check', { skip }, async () => {
  const v2 = await sshF(cfg, ['-b', '127.0.0.5', 'via-v2', 'hosts', '--json']);
  assert.equal(v2.code, 0, `${v2.stderr}\n${hap.output()}`);
  const v1 = await sshF(cfg, ['-b', '127.0.0.6', 'via-v1', 'hosts', '--json']);
  assert.equal(v1.code, 0, v1.stderr);
  const ok = (await gw.audit('gateway.auth')).filter((e) => e.outcome === 'success');
  assert.deepEqual(ok.map((e) => e.clientAddress).sort(), ['127.0.0.5', '127.0.0.6']);
  assert.ok((await gw.audit()).every((e) => e.clientAddress !== PROXY_OUT), 'the proxy\'s address is nobody\'s client address');
  // From an address outside the certificate's source-address, through the same proxy: refused.
  const outside = await sshF(cfg, ['-b', '127.0.0.7', 'via-v2', 'hosts']);
  assert.equal(outside.code, 255);
  const denied = await waitFor('the refusal', async () => (await gw.audit('gateway.auth')).find((e) => e.outcome === 'denied' && e.clientAddress === '127.0.0.7'));
  assert.match(JSON.stringify(denied.details), /source/);
});

test('through HAProxy, a target\'s client CIDRs are checked against the client\'s address', { skip }, async () => {
  const request = 'GET /through-proxy HTTP/1.0\r\n\r\n';
  const inside = await sshF(cfg, ['-b', '127.0.0.5', '-W', `vm1:${web.port}`, 'via-v2'], { input: request });
  assert.equal(inside.code, 0, inside.stderr);
  assert.match(inside.stdout, /hello from the service \/through-proxy/);
  const outside = await sshF(cfg, ['-b', '127.0.0.6', '-W', `vm1:${web.port}`, 'via-v1'], { input: request });
  assert.notEqual(outside.code, 0);
  const denied = await waitFor('the channel refusal', async () => (await gw.audit('gateway.channel')).find((e) => e.outcome === 'denied'));
  assert.equal(denied.clientAddress, '127.0.0.6');
});

test('a PROXY header from an untrusted peer, or from a client behind the proxy, drops the connection and is audited', { skip }, async () => {
  const spoof = Buffer.from('PROXY TCP4 10.9.8.7 127.0.0.1 4242 22\r\nSSH-2.0-Spoof_1.0\r\n');
  const v2header = Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0x00, 0x0c, 10, 9, 8, 7, 127, 0, 0, 1, 0x10, 0x92, 0x00, 0x16])]);
  // Directly from untrusted peers (v1 and v2), and through HAProxy (its own header first, then the client's forged one).
  const attempts = await Promise.all([
    raw('127.0.0.3', gw.port, spoof, false),
    raw('127.0.0.4', gw.port, Buffer.concat([v2header, Buffer.from('SSH-2.0-Spoof_1.0\r\n')]), false),
    raw('127.0.0.8', hap.v2Port, spoof, false),
  ]);
  for (const a of attempts) assert.ok(a.ms < 3000, `the connection was kept for ${a.ms} ms`);
  const records = await waitFor('three refusal records', async () => {
    const r = (await gw.audit('gateway.admission')).filter((e) => (e.details.reasons as Record<string, number>).proxy_header_untrusted === 1);
    return r.length >= 3 ? r : undefined;
  });
  assert.deepEqual(records.map((r) => r.clientAddress).sort(), ['127.0.0.3', '127.0.0.4', '127.0.0.8']);
  assert.ok((await gw.audit()).every((e) => e.clientAddress !== '10.9.8.7'), 'the forged address is believed nowhere');
  // The same peers without a header are served as usual.
  const direct = await sshF(cfg, ['-b', '127.0.0.5', 'direct', 'hosts', '--json']);
  assert.equal(direct.code, 0, direct.stderr);
});

test('the trusted proxy must send a header; its v2 LOCAL health checks are served and never penalised', { skip }, async () => {
  const missing = await raw(PROXY_OUT, gw.port, Buffer.from('SSH-2.0-NoHeader_1.0\r\n'));
  assert.equal(missing.got, '', 'no banner without a header');
  await waitFor('the refusal record', async () => (await gw.audit('gateway.admission')).find((e) => e.clientAddress === PROXY_OUT && (e.details.reasons as Record<string, number>).proxy_header_missing === 1));
  const local = Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]);
  for (let i = 0; i < 20; i++) {
    const { got: banner } = await raw(PROXY_OUT, gw.port, local);
    assert.match(banner, /^SSH-2\.0-Airlock\r\n/, `health check ${i + 1} was not served`);
  }
  assert.equal((await gw.audit('gateway.penalty')).filter((e) => e.clientAddress === PROXY_OUT).length, 0);
});
