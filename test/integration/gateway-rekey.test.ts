/**
 * Rekeying (ssh2 never rekeys by itself): the gateway starts a new key exchange after a volume of data
 * and after a time, here 256 KiB and 1 s. An idle tunnel is rekeyed by time, a download through it by
 * volume, the data arrive intact, and the stock client logs each key exchange.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { freePort, run, startProcess, stopProcess, waitFor } from '../harness/processes.ts';
import { startTestGateway, writeSshConfig, type TestGateway } from '../harness/gateway.ts';

const SIZE = 8 * 1024 * 1024;
const payload = Buffer.alloc(SIZE);
for (let i = 0; i < SIZE; i += 4) payload.writeUInt32LE((i * 2654435761) >>> 0, i);
const digest = createHash('sha256').update(payload).digest('hex');

let gw: TestGateway;
let web: Server;
let webPort: number;

before(async () => {
  web = createServer((_req, res) => res.end(payload));
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  webPort = (web.address() as AddressInfo).port;
  gw = await startTestGateway({ AIRLOCK_GATEWAY_ALLOW_LOOPBACK_TARGETS: '1', AIRLOCK_GATEWAY_PENALTIES: 'off', AIRLOCK_GATEWAY_REKEY_BYTES: '256K', AIRLOCK_GATEWAY_REKEY_INTERVAL: '1s' });
  await gw.user('alice');
  await gw.project('genomics', ['alice']);
  await gw.target({ name: 'vm1', project: 'genomics', host: '127.0.0.1', port: 22, services: [{ name: 'data', port: webPort, path: '/', token: null }] });
});

after(async () => {
  await gw?.stop();
  await new Promise<void>((r) => web?.close(() => r()));
});

test('an idle connection is rekeyed by time and a download by volume; the data arrive intact', async () => {
  const alice = { key: join(gw.dir, 'keys', 'alice'), cert: join(gw.dir, 'keys', 'alice-cert.pub') };
  const cfg = writeSshConfig(join(gw.dir, 'ssh_config'), gw.knownHosts, [{ alias: 'gw', hostName: gw.host, port: gw.port, user: 'alice', extra: [`IdentityFile ${alice.key}`, `CertificateFile ${alice.cert}`, 'IdentitiesOnly yes'] }]);
  const local = await freePort();
  const tunnel = startProcess('ssh', ['-F', cfg, '-v', '-N', '-o', 'ExitOnForwardFailure=yes', '-L', `${local}:vm1:${webPort}`, 'gw'], { env: { ...process.env, SSH_AUTH_SOCK: '' } });
  try {
    await waitFor('the login', () => (gw.server.gateway.stats().authenticated === 1 ? true : undefined), 10_000);
    const start = gw.server.gateway.stats().rekeys;
    // Idle for a little over two intervals.
    await new Promise((r) => setTimeout(r, 2600));
    const byTime = gw.server.gateway.stats().rekeys - start;
    assert.ok(byTime >= 2 && byTime <= 3, `${byTime} rekeys while idle`);

    const out = join(gw.dir, 'download');
    const t0 = Date.now();
    const r = await run('curl', ['-s', '--max-time', '30', '-o', out, `http://127.0.0.1:${local}/`]);
    const downloadMs = Date.now() - t0;
    assert.equal(r.code, 0, r.stderr);
    const sum = await run('sha256sum', [out]);
    assert.equal(sum.stdout.split(' ')[0], digest, 'the download survived the rekeys intact');
    const byVolume = gw.server.gateway.stats().rekeys - start - byTime;
    // A rekey starts after 256 KiB; while it runs, up to a channel window (2 MiB) more is queued and
    // goes out once it ends, so each exchange lets through at most ~2.25 MiB and 8 MiB take at least 3
    // (the last part may stay under the limit) and at most 32. The time limit alone could account for
    // at most one per started second of the download, so more than that proves the volume limit works.
    assert.ok(byVolume >= Math.max(3, Math.ceil(downloadMs / 1000) + 1), `${byVolume} rekeys for ${SIZE} bytes in ${downloadMs} ms`);
    const kexinits = (tunnel.output().match(/SSH2_MSG_KEXINIT received/g) ?? []).length;
    assert.ok(kexinits >= 1 + byTime + byVolume - 1, `the client saw ${kexinits} key exchanges`);
  } finally {
    await stopProcess(tunnel.child);
  }
});
