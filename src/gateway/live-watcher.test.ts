import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuUsage } from 'node:process';
import { systemClock } from '../clock.ts';
import { createStore } from '../store/kysely-store.ts';
import type { Store, User } from '../store/repositories.ts';
import { loadCaKeys, type CaKeys } from '../ca/ca-keys.ts';
import { CertificateAuthority } from '../ca/authority.ts';
import { createAuditor, type AuditInput } from '../audit/auditor.ts';
import { enrolUser } from '../identity/local-login.ts';
import { LOW_COST_FOR_TESTS } from '../identity/password.ts';
import { Inventory } from '../inventory/inventory.ts';
import type { Target } from '../inventory/ports.ts';
import { publicKeyFromKeyObject } from '../ssh/keys.ts';
import { GatewayAuthenticator, type GatewayIdentity } from './auth.ts';
import { LiveWatcher } from './live-watcher.ts';
import type { LiveConnection } from './live-registry.ts';

// The real store, CA, authenticator and inventory; only the SSH connection is an event emitter here
// (the gateway tests drive the same code with real OpenSSH clients).
let dir: string;
let store: Store;
let keys: CaKeys;
let ca: CertificateAuthority;
let inventory: Inventory;
const ADMIN = { name: 'test', clientAddress: null };

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-live-'));
  store = await createStore({ url: undefined, dataDir: dir });
  keys = loadCaKeys(dir);
  const audit = createAuditor({ repository: store.audit, clock: systemClock, log: null });
  ca = new CertificateAuthority({ keys, store, clock: systemClock, audit, policy: { ttlMs: 86_400_000, dailyLimit: 100, allowAgentForwarding: false }, issuer: 'Airlock' });
  inventory = new Inventory({ store, clock: systemClock, audit });
});

after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function watcher(s: Store = store) {
  const audits: AuditInput[] = [];
  const logs: string[] = [];
  const auth = new GatewayAuthenticator({ store: s, clock: systemClock, userCaKey: keys.user.publicKey, methods: ['certificate'] });
  const w = new LiveWatcher({
    settings: s.settings, clock: systemClock, intervalMs: 60_000,
    recheck: (id) => auth.recheck(id),
    targetsForUser: (userId, now) => inventory.targetsForUser(userId, now),
    forwardContext: () => ({ ownListeners: [{ address: '127.0.0.1', port: 2222 }], localAddresses: [], allowLoopback: false }),
    audit: (e) => audits.push(e),
    log: (_level, msg) => logs.push(msg),
  });
  return { w, audits, logs };
}

async function login(name: string, validBefore?: number): Promise<{ user: User; identity: GatewayIdentity }> {
  const user = (await store.users.byName(name)) ?? (await enrolUser(store, { name, email: null, isAdmin: false, password: 'correct horse battery staple' }, systemClock, { kdfCost: LOW_COST_FOR_TESTS })).user;
  const issued = await ca.issueUserCertificate({ user, publicKey: publicKeyFromKeyObject(generateKeyPairSync('ed25519').privateKey), method: 'test', clientAddress: null });
  return { user, identity: { user, method: 'certificate', serial: issued.serial, keyId: null, fingerprint: '', validBefore: validBefore ?? issued.record.validBefore } };
}

function connect(w: LiveWatcher, identity: GatewayIdentity, sessions = 0) {
  const socket = new EventEmitter();
  const ended: string[] = [];
  const conn = w.registry.add({ socket, identity, clientAddress: '192.0.2.7', openedAt: Date.now(), sessions: () => sessions, end: (m) => ended.push(m) });
  return { conn, ended, close: () => socket.emit('close') };
}

function openChannel(w: LiveWatcher, conn: LiveConnection, target: Target) {
  const channel = new EventEmitter();
  let closed = 0;
  w.registry.addChannel(conn, { channel, target, host: target.name, port: target.port, address: target.host, openedAt: Date.now(), close: () => closed++ });
  return { closed: () => closed };
}

test('without connections the poll sends no query; with one it re-checks only when a version moves, and a revocation ends it', async () => {
  const { w, audits } = watcher();
  await w.poll();
  assert.equal(w.stats().polls, 0);
  const { identity } = await login('ann');
  const c = connect(w, identity);
  await w.poll();
  assert.deepEqual([w.stats().polls, w.stats().sweeps], [1, 1], 'the first poll re-checks what is live');
  await w.poll();
  assert.deepEqual([w.stats().polls, w.stats().sweeps], [2, 1], 'no change, no re-check');
  assert.deepEqual(c.ended, []);
  await ca.revoke(identity.serial!, { actor: 'test' });
  await w.poll();
  assert.deepEqual(c.ended, ['Your certificate has been revoked.']);
  assert.equal(audits.length, 1);
  assert.equal(audits[0]!.type, 'gateway.ended');
  assert.deepEqual({ ...audits[0]!.details, duration_ms: 0 }, { scope: 'connection', reason: 'revoked', message: 'Your certificate has been revoked.', method: 'certificate', serial: identity.serial!.toString(), channels: [], duration_ms: 0 });
  c.close();
  assert.equal(w.registry.size, 0);
});

test('a removed target closes its channel; the connection is ended only when nothing else is open on it', async () => {
  const { w, audits } = watcher();
  const { identity } = await login('ben');
  await inventory.addProject('pb', ADMIN);
  await inventory.addMember('pb', 'ben', 'member', ADMIN);
  const t1 = await inventory.addTarget({ name: 'vm-b1', projectName: 'pb', host: '10.0.0.5', port: 22, loginUser: null, services: [], allowedCidrs: [], expiresAt: null }, ADMIN);
  const t2 = await inventory.addTarget({ name: 'vm-b2', projectName: 'pb', host: '10.0.0.6', port: 22, loginUser: null, services: [], allowedCidrs: [], expiresAt: null }, ADMIN);
  const withLobby = connect(w, identity, 1);
  const ch1 = openChannel(w, withLobby.conn, t1);
  const plain = connect(w, identity);
  const ch2 = openChannel(w, plain.conn, t1);
  const ch3 = openChannel(w, plain.conn, t2);
  await w.poll();
  await inventory.removeTarget('vm-b1', ADMIN);
  await w.poll();
  assert.deepEqual([ch1.closed(), ch2.closed(), ch3.closed()], [1, 1, 0]);
  assert.deepEqual(withLobby.ended, [], 'a lobby session is still open on it');
  assert.deepEqual(plain.ended, [], 'a channel to another target is still open on it');
  assert.deepEqual(audits.map((a) => [a.details.scope, a.details.reason, a.details.target]), [['channel', 'not_a_target', 'vm-b1'], ['channel', 'not_a_target', 'vm-b1']]);
  await inventory.removeMember('pb', 'ben', ADMIN);
  await w.poll();
  assert.equal(ch3.closed(), 1);
  assert.deepEqual(plain.ended, ['Target vm-b2 was removed or is no longer open to you; its connection is closed.']);
});

test('a certificate reaching validBefore ends its connection on time without any poll', async () => {
  const { w } = watcher();
  const { identity } = await login('cid', Date.now() + 300);
  const c = connect(w, identity);
  const started = Date.now();
  const message = await new Promise<string>((resolve) => {
    const timer = setInterval(() => {
      if (c.ended.length > 0 || Date.now() - started > 5_000) {
        clearInterval(timer);
        resolve(c.ended[0] ?? 'not ended');
      }
    }, 20);
  });
  assert.match(message, /certificate has expired/);
  assert.ok(Date.now() - started < 1_500);
  assert.equal(w.stats().polls, 0);
});

test('a store outage ends nothing (it is logged and retried)', async () => {
  const broken = await createStore({ url: 'sqlite::memory:', dataDir: dir });
  const { w, logs } = watcher(broken);
  const { identity } = await login('dot');
  const c = connect(w, identity);
  await broken.close();
  await w.poll();
  assert.deepEqual(c.ended, []);
  assert.match(logs.join('\n'), /live-session check failed/);
});

test('cost: an idle poll is one small query, well under a millisecond of CPU on SQLite', async (t) => {
  const { w } = watcher();
  const { identity } = await login('eve');
  connect(w, identity);
  await w.poll();
  const n = 500;
  const before = cpuUsage();
  for (let i = 0; i < n; i++) await w.poll();
  const used = cpuUsage(before);
  const perPollUs = (used.user + used.system) / n;
  t.diagnostic(`CPU per idle poll: ${perPollUs.toFixed(1)} µs`);
  assert.equal(w.stats().sweeps, 1);
  // At the default 2 polls a second that is well under 0.2 % of one core.
  assert.ok(perPollUs < 1_000, `${perPollUs} µs per poll`);
});

test('a connection\'s own access rule (a job\'s ownership) ends it when it says no, and not when it cannot tell', async () => {
  const { w, audits } = watcher();
  const { identity } = await login('jon');
  let answer: { ok: true } | { ok: false; reason: string; message: string } = { ok: true };
  let asked = 0;
  const socket = new EventEmitter();
  const ended: string[] = [];
  w.registry.add({
    socket, identity, clientAddress: '192.0.2.9', openedAt: Date.now(), sessions: () => 1, end: (m) => ended.push(m),
    access: () => {
      asked++;
      return Promise.resolve(answer);
    },
  });
  await w.sweep();
  assert.deepEqual([asked, ended], [1, []]);
  answer = { ok: false, reason: 'internal', message: 'could not check' };
  await w.sweep();
  assert.deepEqual([asked, ended], [2, []], 'an outage ends nothing');
  answer = { ok: false, reason: 'not_job_owner', message: 'jon no longer owns job j.' };
  await w.sweep();
  assert.deepEqual(ended, ['jon no longer owns job j.']);
  assert.equal(audits.at(-1)?.details.reason, 'not_job_owner');
  await w.sweep();
  assert.equal(asked, 3, 'an ended connection is not asked again');
  socket.emit('close');
});
