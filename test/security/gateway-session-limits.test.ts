/**
 * Issue 10, item 3: limits on authenticated connections per user and per client address, and on
 * channels per user over all connections, with real OpenSSH clients. Over a connection limit, the login
 * is answered with SSH_MSG_DISCONNECT and a reason that `ssh` prints; over the channel limit, the channel
 * open fails with "resource shortage" and the reason; each refusal is audited; closing one lets the next in.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { freePort, startProcess, stopProcess, waitFor } from '../harness/processes.ts';
import { sshF, startHttpService, startTestGateway, writeSshConfig, type TestGateway } from '../harness/gateway.ts';

let gw: TestGateway;
let web: Awaited<ReturnType<typeof startHttpService>>;
let cfg: string;
const procs: ReturnType<typeof startProcess>[] = [];

before(async () => {
  web = await startHttpService('127.0.0.1');
  gw = await startTestGateway({
    AIRLOCK_GATEWAY_MAX_CONNECTIONS_PER_USER: '3', AIRLOCK_GATEWAY_MAX_CONNECTIONS_PER_ADDRESS: '4', AIRLOCK_GATEWAY_MAX_CHANNELS_PER_USER: '4',
    AIRLOCK_GATEWAY_ALLOW_LOOPBACK_TARGETS: '1',
  });
  const users = await Promise.all(['alice', 'bob', 'carol', 'dave', 'erin'].map((n) => gw.user(n)));
  await gw.project('genomics', ['erin']);
  await gw.target({ name: 'vm1', project: 'genomics', host: '127.0.0.1', port: web.port });
  cfg = writeSshConfig(join(gw.dir, 'ssh_config'), gw.knownHosts, users.map((u) => ({ alias: u.name, hostName: gw.host, port: gw.port, user: u.name, key: u })));
});

after(async () => {
  for (const p of procs) await stopProcess(p.child);
  await gw?.stop();
  await web?.stop();
});

/** `ssh -N` as `alias`, from `from`, kept open; resolves once the gateway counts it as logged in. */
async function hold(alias: string, from: string, extra: string[] = []): Promise<ReturnType<typeof startProcess>> {
  const before = gw.server.gateway.stats().authenticated;
  const p = startProcess('ssh', ['-F', cfg, '-b', from, '-N', ...extra, alias], { env: { ...process.env, SSH_AUTH_SOCK: '' } });
  procs.push(p);
  await waitFor(`${alias} logged in`, () => (gw.server.gateway.stats().authenticated > before ? true : undefined), 15_000);
  return p;
}

async function release(p: ReturnType<typeof startProcess>): Promise<void> {
  const before = gw.server.gateway.stats().authenticated;
  await stopProcess(p.child);
  procs.splice(procs.indexOf(p), 1);
  await waitFor('the connection to close', () => (gw.server.gateway.stats().authenticated < before ? true : undefined));
}

test('per user: the fourth connection is refused with a message ssh prints; closing one lets another in', async () => {
  const held = [await hold('alice', '127.0.0.1'), await hold('alice', '127.0.0.1'), await hold('alice', '127.0.0.51')];
  const fourth = await sshF(cfg, ['-b', '127.0.0.52', 'alice', 'hosts']);
  assert.equal(fourth.code, 255);
  assert.match(fourth.stderr, /Received disconnect from 127\.0\.0\.1 port \d+:12: Too many connections for alice: at most 3 at a time\. Close one of your connections and connect again\./);
  const audit = await waitFor('the refusal', async () => (await gw.audit('gateway.auth')).find((e) => e.outcome === 'denied' && e.actor === 'alice'));
  assert.equal(audit.details.reason, 'connections_per_user');
  assert.equal(audit.clientAddress, '127.0.0.52');
  assert.equal((await gw.audit('gateway.penalty')).length, 0, 'a proven user over the limit is not penalised');
  await release(held[0]!);
  const again = await sshF(cfg, ['-b', '127.0.0.52', 'alice', 'hosts', '--json']);
  assert.equal(again.code, 0, again.stderr);
  for (const p of held.slice(1)) await release(p);
});

test('per address: the fifth connection from one address is refused whoever logs in', async () => {
  const held = [await hold('bob', '127.0.0.60'), await hold('bob', '127.0.0.60'), await hold('carol', '127.0.0.60'), await hold('carol', '127.0.0.60')];
  const fifth = await sshF(cfg, ['-b', '127.0.0.60', 'dave', 'hosts']);
  assert.equal(fifth.code, 255);
  assert.match(fifth.stderr, /Too many connections from 127\.0\.0\.60: at most 4 at a time from one address\./);
  const other = await sshF(cfg, ['-b', '127.0.0.61', 'dave', 'hosts', '--json']);
  assert.equal(other.code, 0, other.stderr);
  await release(held[0]!);
  const now = await sshF(cfg, ['-b', '127.0.0.60', 'dave', 'hosts', '--json']);
  assert.equal(now.code, 0, now.stderr);
  for (const p of held.slice(1)) await release(p);
});

test('per user: channels over all connections are limited; the next is refused as a resource shortage', async () => {
  const [p1, p2] = [await freePort(), await freePort()];
  // LogLevel INFO, ssh's default (the test config says ERROR): channel-open failures are logged at INFO.
  const a = await hold('erin', '127.0.0.1', ['-o', 'LogLevel=INFO', '-L', `127.0.0.1:${p1}:vm1:${web.port}`]);
  const b = await hold('erin', '127.0.0.1', ['-o', 'LogLevel=INFO', '-L', `127.0.0.1:${p2}:vm1:${web.port}`]);
  const sockets: Socket[] = [];
  const open = (port: number): Promise<Socket> => new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.on('error', () => {});
    sockets.push(s);
    s.once('connect', () => resolve(s));
  });
  try {
    // Three channels on one connection, one on the other: the user's four.
    for (const port of [p1, p1, p1, p2]) await open(port);
    await waitFor('four open channels', () => (gw.server.gateway.stats().channels === 4 ? true : undefined), 10_000);
    const fifth = await open(p2);
    let timer: NodeJS.Timeout | undefined;
    const closed = await Promise.race([
      new Promise<boolean>((resolve) => fifth.once('close', () => resolve(true))),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 10_000))),
    ]);
    clearTimeout(timer);
    assert.ok(closed, 'the fifth channel stayed open');
    await waitFor(`ssh to print the refusal (it said: ${b.output()})`, () => (/open failed: resource shortage: Too many open channels for erin: at most 4 over all your connections/.test(b.output()) ? true : undefined), 5000);
    const denied = await waitFor('the audit record', async () => (await gw.audit('gateway.channel')).find((e) => e.outcome === 'denied' && e.details.reason === 'channels_per_user'));
    assert.equal(denied.actor, 'erin');
    // Closing one channel lets the next one open.
    sockets[0]!.destroy();
    await waitFor('three open channels', () => (gw.server.gateway.stats().channels === 3 ? true : undefined), 10_000);
    await open(p2);
    await waitFor('four open channels again', () => (gw.server.gateway.stats().channels === 4 ? true : undefined), 10_000);
  } finally {
    for (const s of sockets) s.destroy();
    await release(a);
    await release(b);
  }
});
