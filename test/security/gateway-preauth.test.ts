/**
 * Checklist 2: pre-authentication denial of service, after OpenSSH's regress/login-timeout.sh and
 * MaxStartups. Sockets that send nothing, only an identification string, a never-ending line, or that
 * finish the key exchange and never authenticate are closed after the login grace time (2 s here); the
 * caps on unauthenticated connections per address and in total refuse the next connection at once, and
 * a real login still succeeds; authentication attempts per connection are bounded; sources that keep
 * failing are refused for a while; junk before the banner is not buffered. Test clients bind distinct
 * loopback addresses (127.0.0.x) so that each test owns its "source".
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { mkdirSync } from 'node:fs';
import { startProcess, stopProcess, waitFor } from '../harness/processes.ts';
import { sshF, startTestGateway, writeKeyPair, writeSshConfig, type TestGateway, type UserKey } from '../harness/gateway.ts';

let gw: TestGateway;
let penal: TestGateway;
let alice: UserKey;
let cfg: string;

before(async () => {
  [gw, penal] = await Promise.all([
    startTestGateway({ AIRLOCK_GATEWAY_LOGIN_GRACE: '2s', AIRLOCK_GATEWAY_MAX_UNAUTH_PER_ADDRESS: '4', AIRLOCK_GATEWAY_MAX_UNAUTH: '8', AIRLOCK_GATEWAY_PENALTIES: 'off' }),
    startTestGateway({}),
  ]);
  alice = await gw.user('alice');
  cfg = writeSshConfig(join(gw.dir, 'ssh_config'), gw.knownHosts, [{ alias: 'gw', hostName: gw.host, port: gw.port, user: 'alice', key: alice }]);
});

after(async () => {
  await gw?.stop();
  await penal?.stop();
});

interface Raw {
  socket: Socket;
  /** The first bytes from the server, or null if it closed without sending any. */
  first: Promise<Buffer | null>;
  /** Milliseconds from connect to close. */
  closed: Promise<number>;
}

/** A raw TCP client from `from`, optionally sending an identification string. */
function rawClient(target: TestGateway, from: string, opts: { ident?: boolean } = {}): Raw {
  const socket = connect({ host: target.host, port: target.port, localAddress: from });
  const started = Date.now();
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - started)));
  const first = new Promise<Buffer | null>((resolve) => {
    socket.once('data', (d: Buffer) => resolve(d));
    socket.once('close', () => resolve(null));
  });
  if (opts.ident) socket.once('connect', () => socket.write('SSH-2.0-Idle_1.0\r\n'));
  return { socket, first, closed };
}

async function within<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** An ssh2 client that completes the key exchange and then never authenticates. */
function stallingSsh2(from: string): Promise<number> {
  return new Promise((resolve) => {
    const started = Date.now();
    const c = new ssh2.Client();
    c.on('error', () => {});
    c.on('close', () => resolve(Date.now() - started));
    c.connect({ host: gw.host, port: gw.port, localAddress: from, username: 'alice', hostVerifier: () => true, readyTimeout: 20_000, authHandler: () => undefined });
  });
}

test('login grace time: silent, identification-only, never-ending-line and never-authenticating connections are closed after 2 s', async () => {
  const silent = rawClient(gw, '127.0.0.11');
  const identOnly = rawClient(gw, '127.0.0.11', { ident: true });
  const slow = rawClient(gw, '127.0.0.11');
  const drip = setInterval(() => slow.socket.write('x'), 100);
  try {
    const times = await Promise.all([silent.closed, identOnly.closed, slow.closed, stallingSsh2('127.0.0.11')]);
    for (const [i, ms] of times.entries()) assert.ok(ms >= 1800 && ms < 4500, `connection ${i} closed after ${ms} ms`);
    assert.match((await identOnly.first)?.toString() ?? '', /^SSH-2\.0-Airlock\r\n/);
  } finally {
    clearInterval(drip);
  }
  await waitFor('the gateway to forget them', () => (gw.server.gateway.stats().unauthenticated === 0 ? true : undefined), 2000);
});

test('per-address cap: the fifth unauthenticated connection is refused at once; other addresses and real logins still work', async () => {
  const hogs = Array.from({ length: 4 }, () => rawClient(gw, '127.0.0.12', { ident: true }));
  for (const h of hogs) assert.match((await h.first)?.toString() ?? '', /^SSH-2\.0-Airlock/);
  const refused = rawClient(gw, '127.0.0.12', { ident: true });
  assert.equal(await refused.first, null, 'refused before the server says anything');
  assert.ok((await refused.closed) < 1000);
  const other = rawClient(gw, '127.0.0.13', { ident: true });
  assert.match((await other.first)?.toString() ?? '', /^SSH-2\.0-Airlock/);
  other.socket.destroy();
  // A real login from elsewhere while the hogs hold their slots.
  const r = await sshF(cfg, ['gw', 'hosts', '--json']);
  assert.equal(r.code, 0, r.stderr);
  // After the grace time the hogs are gone and the same address logs in.
  await Promise.all(hogs.map((h) => h.closed));
  const again = await sshF(cfg, ['-b', '127.0.0.12', 'gw', 'hosts', '--json']);
  assert.equal(again.code, 0, again.stderr);
  assert.ok(gw.server.gateway.stats().refused >= 1);
});

test('total cap: with eight sources holding one slot each, the ninth unauthenticated connection is refused; authenticated connections do not count', async () => {
  // One slot per source: the table is fairly shared, so no newcomer may take a slot (preauth-limits.ts).
  const hogs = Array.from({ length: 8 }, (_, i) => rawClient(gw, `127.0.0.${40 + i}`, { ident: true }));
  for (const h of hogs) assert.notEqual(await h.first, null);
  const refused = rawClient(gw, '127.0.0.16', { ident: true });
  assert.equal(await refused.first, null);
  for (const h of hogs) h.socket.destroy();
  await Promise.all(hogs.map((h) => h.closed));
  await waitFor('the slots to be released', () => (gw.server.gateway.stats().unauthenticated === 0 ? true : undefined));
  // Ten logged-in connections from one address: beyond both caps, since only unauthenticated ones count.
  const sessions = [];
  try {
    for (let i = 0; i < 10; i++) {
      const p = startProcess('ssh', ['-F', cfg, '-b', '127.0.0.17', '-N', 'gw'], { env: { ...process.env, SSH_AUTH_SOCK: '' } });
      sessions.push(p);
      await waitFor(`login ${i + 1}`, () => (gw.server.gateway.stats().authenticated === i + 1 ? true : undefined), 10_000);
    }
  } finally {
    for (const p of sessions) await stopProcess(p.child);
  }
});

test('authentication attempts per connection are bounded (6): the seventh and eighth keys are never tried', async () => {
  const dir = join(gw.dir, 'many');
  mkdirSync(dir);
  const ids = Array.from({ length: 8 }, (_, i) => `IdentityFile ${writeKeyPair(join(dir, `k${i}`))}`);
  const many = writeSshConfig(join(gw.dir, 'ssh_config_many'), gw.knownHosts, [{ alias: 'gw', hostName: gw.host, port: gw.port, user: 'alice', extra: [...ids, 'IdentitiesOnly yes'] }]);
  const r = await sshF(many, ['-b', '127.0.0.18', 'gw', 'hosts']);
  assert.equal(r.code, 255);
  const denied = await waitFor('six refusals', async () => {
    const n = (await gw.audit('gateway.auth')).filter((e) => e.outcome === 'denied' && e.clientAddress === '127.0.0.18').length;
    return n >= 6 ? n : undefined;
  }, 3000);
  assert.equal(denied, 6);
});

test('penalties: a source that keeps failing is refused for a while, others are not, and it is audited', async () => {
  const pcfg = writeSshConfig(join(penal.dir, 'ssh_config'), penal.knownHosts, [{ alias: 'gw', hostName: penal.host, port: penal.port, user: 'mallory', extra: [`IdentityFile ${writeKeyPair(join(penal.dir, 'mallory'))}`, 'IdentitiesOnly yes'] }]);
  // authfail earns 5 s; the source is refused once 15 s are pending — the fourth quick failure at the latest.
  let attempts = 0;
  while ((await penal.audit('gateway.penalty')).length === 0) {
    assert.ok(++attempts <= 5, 'no penalty after 5 failed logins');
    const r = await sshF(pcfg, ['-b', '127.0.0.19', 'gw']);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /Permission denied/, 'refused at authentication, not before');
    await new Promise((res) => setTimeout(res, 50)); // the penalty is applied when the server sees the close
  }
  assert.ok(attempts >= 3, `penalised after ${attempts} failures`);
  const refused = rawClient(penal, '127.0.0.19', { ident: true });
  assert.equal(await refused.first, null, 'a penalised source gets nothing');
  const fine = rawClient(penal, '127.0.0.20', { ident: true });
  assert.notEqual(await fine.first, null);
  fine.socket.destroy();
  const e = (await penal.audit('gateway.penalty'))[0]!;
  assert.equal(e.clientAddress, '127.0.0.19');
  assert.equal(e.details.reason, 'authfail');
});

test('junk before the banner: thousands of lines are not buffered, the connection is dropped, memory stays flat', async () => {
  const line = Buffer.from('GET / HTTP/1.1 this is not ssh at all, just junk before any banner\r\n');
  const chunk = Buffer.alloc(line.length * 4096);
  for (let i = 0; i < 4096; i++) line.copy(chunk, i * line.length);
  const flood = async (from: string, totalBytes: number): Promise<{ accepted: number; ms: number }> => {
    const s = connect({ host: gw.host, port: gw.port, localAddress: from });
    s.on('error', () => {});
    s.resume(); // read (and drop) what the server says, so that its FIN is noticed
    const started = Date.now();
    const done = new Promise<void>((resolve) => s.once('close', () => resolve()));
    let sent = 0;
    const pump = () => {
      while (sent < totalBytes && !s.destroyed) {
        sent += chunk.length;
        if (!s.write(chunk)) return void s.once('drain', pump);
      }
      s.end();
    };
    s.once('connect', pump);
    const closed = await within(done, 10_000);
    assert.notEqual(closed, 'timeout', `the server must drop a junk-sending connection (${from}, sent ${sent}, accepted ${s.bytesWritten}, destroyed ${s.destroyed})`);
    return { accepted: s.bytesWritten, ms: Date.now() - started };
  };
  // One client trying to push 64 MiB of junk lines: dropped long before.
  const big = await flood('127.0.0.21', 64 * 1024 * 1024);
  assert.ok(big.accepted < 16 * 1024 * 1024, `the server kept reading: ${big.accepted} bytes`);
  assert.ok(big.ms < 5000, `took ${big.ms} ms`);
  // Many clients with thousands of junk lines each; the gateway runs in this process, so its RSS is ours.
  const rssBefore = process.memoryUsage().rss;
  for (let round = 0; round < 25; round++) {
    await Promise.all(['127.0.0.22', '127.0.0.23', '127.0.0.24', '127.0.0.25'].map((a) => flood(a, chunk.length * 4)));
  }
  const grown = (process.memoryUsage().rss - rssBefore) / 1024 / 1024;
  assert.ok(grown < 64, `RSS grew by ${grown.toFixed(1)} MiB for 100 junk connections`);
  // A line without end beyond 8 KiB is refused too (ssh2's header line limit).
  const s = connect({ host: gw.host, port: gw.port, localAddress: '127.0.0.26' });
  s.on('error', () => {});
  s.resume();
  s.once('connect', () => s.write('S'.repeat(64 * 1024)));
  assert.notEqual(await within(new Promise((r) => s.once('close', r)), 5000), 'timeout');
  await waitFor('all junk connections to be gone', () => (gw.server.gateway.stats().connections === 0 ? true : undefined), 5000);
});
