/**
 * Draining on SIGTERM (issue 14, item 3): `airlock serve` holds two real `ssh -W` sessions through its
 * gateway when it gets SIGTERM. From then on `/readyz` answers 503 with a failing `draining` check and
 * new SSH connections are refused; the sessions keep relaying; one ends by itself, the other is closed
 * at AIRLOCK_DRAIN_TIMEOUT with a one-line reason that ssh prints; then the process exits 0, and the
 * audit holds both channels' records (nothing lost in the shutdown).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startAirlock, type RunningAirlock } from '../harness/airlock.ts';
import { waitFor } from '../harness/processes.ts';
import { tempDir, writeKeyPair, writeSshConfig } from '../harness/gateway.ts';
import { loadConfig } from '../../src/config.ts';
import { openCore } from '../../src/server.ts';
import { enrolUser } from '../../src/identity/local-login.ts';
import { LOW_COST_FOR_TESTS } from '../../src/identity/password.ts';
import { parsePublicKey } from '../../src/ssh/keys.ts';

const DRAIN_MS = 4_000;
const dir = tempDir('airlock-drain-');
let server: RunningAirlock | undefined;
let echo: Server | undefined;

after(async () => {
  await server?.stop();
  await new Promise<void>((resolve) => (echo ? echo.close(() => resolve()) : resolve()));
  rmSync(dir, { recursive: true, force: true });
});

/** What the first test sets up (user, certificate, target) for the second, which restarts on the same data directory. */
let setup: { dataDir: string; key: string; echoPort: number } | undefined;

/** An ssh config (`gw`) for alice at `srv`'s gateway, trusting its host key. */
async function sshConfigFor(srv: RunningAirlock): Promise<string> {
  const [host, port] = srv.ssh!.split(':');
  const info = await srv.admin(['gateway-info', '--json']);
  assert.equal(info.code, 0, info.stderr);
  const knownHosts = join(dir, `known_hosts_${port}`);
  writeFileSync(knownHosts, `[${host}]:${port} ${(JSON.parse(info.stdout) as { host_key: string }).host_key}\n`);
  const key = setup!.key;
  return writeSshConfig(join(dir, `ssh_config_${port}`), knownHosts, [
    { alias: 'gw', hostName: host!, port: Number(port), user: 'alice', key: { name: 'alice', key, pub: `${key}.pub`, cert: `${key}-cert.pub`, serial: 0n }, extra: ['LogLevel INFO'] },
  ]);
}

/** An `ssh -W` session through the gateway to the echo service, with its output collected. */
function forward(cfg: string, port: number) {
  const child = spawn('ssh', ['-F', cfg, '-W', `127.0.0.1:${port}`, 'gw'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, SSH_AUTH_SOCK: '' } });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return {
    child,
    exited,
    stderr: () => err,
    /** Sends a line and waits for the echo service to return it through the gateway. */
    async echo(text: string): Promise<void> {
      child.stdin.write(`${text}\n`);
      await waitFor(`"${text}" echoed through the gateway (stderr: ${err})`, () => (out.includes(text) ? true : undefined), 10_000);
    },
  };
}

test('SIGTERM drains: not ready, no new connections, sessions run on until they end or the timeout closes them with a message', async () => {
  echo = createServer((s) => {
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((resolve) => echo!.listen(0, '127.0.0.1', resolve));
  const echoPort = (echo.address() as AddressInfo).port;

  const dataDir = join(dir, 'data');
  server = await startAirlock(dataDir, { AIRLOCK_DRAIN_TIMEOUT: `${DRAIN_MS}ms`, AIRLOCK_GATEWAY_ALLOW_LOOPBACK_TARGETS: '1', AIRLOCK_GATEWAY_PENALTIES: 'off' });
  const [host, portText] = server.ssh!.split(':');
  const sshPort = Number(portText);

  // A user with a certificate, and the echo service as a target of their project.
  const key = writeKeyPair(join(dir, 'alice'));
  const core = await openCore(loadConfig({ env: {}, flags: { data_dir: dataDir } }), { log: null });
  try {
    await enrolUser(core.store, { name: 'alice', email: null, isAdmin: false, password: 'correct horse battery staple' }, core.clock, { kdfCost: LOW_COST_FOR_TESTS });
    const user = (await core.store.users.byName('alice'))!;
    const issued = await core.ca.issueUserCertificate({ user, publicKey: parsePublicKey(readFileSync(`${key}.pub`, 'utf8').trim()), method: 'test', clientAddress: null });
    writeFileSync(`${key}-cert.pub`, issued.line + '\n');
    const admin = { name: 'test', clientAddress: null };
    await core.inventory.addProject('p', admin);
    await core.inventory.addMember('p', 'alice', 'member', admin);
    await core.inventory.addTarget({ name: 'echo', projectName: 'p', host: '127.0.0.1', port: echoPort, loginUser: null, services: [], allowedCidrs: [], expiresAt: null }, admin);
  } finally {
    await core.close();
  }
  setup = { dataDir, key, echoPort };
  const cfg = await sshConfigFor(server);

  const ends = forward(cfg, echoPort);
  const held = forward(cfg, echoPort);
  await Promise.all([ends.echo('before-a'), held.echo('before-b')]);

  server.kill('SIGTERM');
  const termAt = performance.now();
  const readyz = await waitFor('/readyz to answer 503', async () => {
    const r = await fetch(`${server!.httpUrl}/readyz`);
    return r.status === 503 ? ((await r.json()) as { ready: boolean; checks: Record<string, { ok: boolean; message?: string }> }) : undefined;
  }, 5_000, 20);
  assert.equal(readyz.ready, false);
  assert.deepEqual(readyz.checks.draining, { ok: false, message: 'the service is shutting down' });
  assert.equal(readyz.checks.database?.ok, true, 'only the drain makes it unready');

  // No new SSH connections: the listener is closed.
  const refused = await new Promise<string>((resolve) => {
    const s = connect({ host, port: sshPort });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
  assert.equal(refused, 'ECONNREFUSED');

  // Both sessions still relay; one then ends by itself, cleanly.
  await Promise.all([ends.echo('during-a'), held.echo('during-b')]);
  ends.child.stdin.end();
  assert.equal(await ends.exited, 0, ends.stderr());
  assert.ok(performance.now() - termAt < DRAIN_MS, 'the first session ended by itself before the timeout');

  // The other is closed at the timeout with the reason, and the process exits.
  const heldCode = await held.exited;
  const closedAfter = performance.now() - termAt;
  assert.notEqual(heldCode, 0);
  assert.match(held.stderr(), /This Airlock server is restarting and has closed your connection\. Connect again/);
  assert.ok(closedAfter >= DRAIN_MS - 100, `closed ${Math.round(closedAfter)} ms after SIGTERM, not before the drain timeout`);
  assert.ok(closedAfter < DRAIN_MS + 3_000, `closed ${Math.round(closedAfter)} ms after SIGTERM`);
  assert.equal(await server.exited, 0, server.logs());
  assert.match(server.logs(), /"msg":"drained","ended_connections":1/);

  // Nothing lost: both channels' records were written before the process exited.
  const core2 = await openCore(loadConfig({ env: {}, flags: { data_dir: dataDir } }), { log: null });
  try {
    const channels = (await core2.store.audit.list({ since: 0, type: 'gateway.channel' })).filter((e) => e.details.channel === 'direct-tcpip' && e.outcome === 'success');
    assert.equal(channels.length, 2, JSON.stringify(channels));
  } finally {
    await core2.close();
  }
});

test('a second signal ends the drain at once: the sessions are closed with the message and the process exits', async () => {
  assert.ok(setup, 'runs after the first test, on its data directory');
  // A drain that would last an hour unless the operator asks twice.
  server = await startAirlock(setup.dataDir, { AIRLOCK_DRAIN_TIMEOUT: '1h', AIRLOCK_GATEWAY_ALLOW_LOOPBACK_TARGETS: '1', AIRLOCK_GATEWAY_PENALTIES: 'off' });
  const held = forward(await sshConfigFor(server), setup.echoPort);
  await held.echo('before');
  server.kill('SIGTERM');
  await waitFor('/readyz to answer 503', async () => ((await fetch(`${server!.httpUrl}/readyz`)).status === 503 ? true : undefined), 5_000, 20);
  await held.echo('during');
  server.kill('SIGINT');
  const askedAt = performance.now();
  assert.notEqual(await held.exited, 0);
  assert.ok(performance.now() - askedAt < 3_000, 'closed at once, not after the hour');
  assert.match(held.stderr(), /This Airlock server is restarting/);
  assert.equal(await server.exited, 0, server.logs());
  assert.match(server.logs(), /Received SIGINT again; closing the remaining sessions now\./);
});
