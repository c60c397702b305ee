/**
 * The gateway inside the real `airlock serve` binary: it listens on port 0 and writes the chosen
 * address to endpoints.json, prints it with the host key fingerprint at start-up, keeps the host key
 * across restarts, and a user made with `airlock admin` reaches the lobby with a certificate.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAirlock, type RunningAirlock } from '../harness/airlock.ts';
import { run, waitFor } from '../harness/processes.ts';
import { ssh } from '../harness/ssh-client.ts';
import { writeKeyPair } from '../harness/gateway.ts';
import { loadConfig } from '../../src/config.ts';
import { openCore } from '../../src/server.ts';
import { parsePublicKey } from '../../src/ssh/keys.ts';

const dir = mkdtempSync(join(tmpdir(), 'airlock-it-serve-'));
let server: RunningAirlock | undefined;

after(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('airlock serve runs the gateway: endpoints.json, start-up output, stable host key, a real login', async () => {
  const dataDir = join(dir, 'data');
  server = await startAirlock(dataDir, { AIRLOCK_SSH_PUBLIC: 'gw.example.org:2222' });
  assert.match(server.ssh ?? '', /^127\.0\.0\.1:\d+$/);
  const [host, portText] = server.ssh!.split(':');
  const port = Number(portText);
  const info = await server.admin(['gateway-info', '--json']);
  assert.equal(info.code, 0, info.stderr);
  const trust = JSON.parse(info.stdout) as { ssh: string; fingerprint: string; host_key: string };
  assert.equal(trust.ssh, 'gw.example.org:2222');
  const expected = `SSH gateway: ${server.ssh} (public gw.example.org:2222), host key ${trust.fingerprint}`;
  await waitFor('the start-up message', () => (server!.logs().includes(expected) ? true : undefined), 10_000);
  assert.equal(statSync(join(dataDir, 'gateway', 'ssh_host_ed25519_key')).mode & 0o777, 0o600);

  // A user from the operator CLI, a certificate from the CA (on the same data directory).
  const add = await server.admin(['user', 'add', 'alice', '--password-stdin', '--json'], { input: 'correct horse battery staple\n' });
  assert.equal(add.code, 0, add.stderr);
  const key = writeKeyPair(join(dir, 'alice'));
  const core = await openCore(loadConfig({ env: {}, flags: { data_dir: dataDir } }), { log: null });
  try {
    const user = (await core.store.users.byName('alice'))!;
    const issued = await core.ca.issueUserCertificate({ user, publicKey: parsePublicKey(readFileSync(`${key}.pub`, 'utf8').trim()), method: 'test', clientAddress: null });
    writeFileSync(`${key}-cert.pub`, issued.line + '\n');
  } finally {
    await core.close();
  }
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, `[${host}]:${port} ${trust.host_key}\n`);
  const lobby = await ssh(['-i', key, '-o', `CertificateFile=${key}-cert.pub`, '-o', 'IdentitiesOnly=yes', '-p', String(port), `alice@${host}`, 'hosts', '--json'], { knownHosts });
  assert.equal(lobby.code, 0, lobby.stderr + server.logs());
  const view = JSON.parse(lobby.stdout) as { user: string; gateway: { host: string; port: number } };
  assert.equal(view.user, 'alice');
  assert.deepEqual([view.gateway.host, view.gateway.port], ['gw.example.org', 2222], 'the lobby speaks of the public address');

  // Restart: same host key, new port.
  await server.stop();
  rmSync(join(dataDir, 'endpoints.json')); // the harness waits for this file to appear
  server = await startAirlock(dataDir);
  const scan = await run('ssh-keyscan', ['-t', 'ed25519', '-p', server.ssh!.split(':')[1]!, '127.0.0.1']);
  assert.ok(scan.stdout.includes(trust.host_key.split(' ')[1]!), scan.stdout + scan.stderr);
});
