/**
 * The reference deployment (issue 14, item 1): real HAProxy running deploy/haproxy/haproxy.cfg as it
 * is — SSH in `mode tcp` with `send-proxy-v2` and health checks on `/readyz`, HTTP in `mode http` with
 * X-Forwarded-For — in front of two `airlock serve` processes on one PostgreSQL database, every client
 * on its own loopback address. It shows, in order:
 *   1. sign-in throttling and the audit see each client's own address: 127.0.0.2 is locked out, 127.0.0.3
 *      signs in as the same user (the HAProxy address, 127.0.0.1, appears nowhere);
 *   2. a PROXY header from an untrusted peer (directly, or from a client through HAProxy) is refused;
 *   3. 50 concurrent certificate requests for one user over both replicas yield exactly the quota, and
 *      each replica's /metrics parses and its counters moved with that traffic;
 *   4. a revocation made through one replica refuses the next channel on the other within a second;
 *   5. `kill -9` of the replica carrying a ProxyJump session: the client's reconnect through HAProxy
 *      succeeds on the other, and nothing already in the ledger or the audit is lost.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { airlock, startAirlock, type RunningAirlock } from '../harness/airlock.ts';
import { haproxyAvailable, startReferenceHaproxy, type ReferenceHaproxy } from '../harness/haproxy.ts';
import { POSTGRES_SKIP_REASON, withTestDatabase, type TestDatabase } from '../harness/postgres.ts';
import { freePort, waitFor } from '../harness/processes.ts';
import { holdSshSession } from '../harness/held-ssh-session.ts';
import { sshF, tempDir, writeKeyPair, writeSshConfig, type UserKey } from '../harness/gateway.ts';
import { startSshd, type TestSshd } from '../harness/sshd.ts';
import { loadConfig } from '../../src/config.ts';
import { openCore, type Core } from '../../src/server.ts';
import { enrolUser } from '../../src/identity/enrolment.ts';
import { LOW_COST_FOR_TESTS } from '../../src/identity/password.ts';
import { currentTotp } from '../../src/identity/totp.ts';
import { formatPublicKey, parsePublicKey, publicKeyFromKeyObject } from '../../src/ssh/keys.ts';

const skip = POSTGRES_SKIP_REASON ?? (haproxyAvailable() ? false : 'HAProxy is not installed (apt-get install haproxy; .ci/run does it)');
const PASSWORD = 'correct horse battery staple';
const QUOTA = 5;
/** "Within a second", with room for a busy 2-core machine. */
const WITHIN_MS = 1_500;

interface Reply {
  status: number;
  json: Record<string, unknown>;
}

/** An HTTP request with the client socket bound to `from` (a distinct client address on loopback). */
function http(method: string, url: string, opts: { from?: string; body?: unknown; token?: string } = {}): Promise<Reply> {
  const u = new URL(url);
  const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  return new Promise((resolve, reject) => {
    const req = request({
      host: u.hostname, port: u.port, path: u.pathname, method, localAddress: opts.from ?? '127.0.0.1', agent: false,
      headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        let json: Record<string, unknown> = {};
        try {
          json = JSON.parse(text) as Record<string, unknown>;
        } catch {
          json = { text };
        }
        resolve({ status: res.statusCode ?? 0, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Sum of a metric family's samples whose labels match `where`, from a replica's /metrics (which must parse). */
async function metric(replica: RunningAirlock, name: string, where: Record<string, string> = {}): Promise<number> {
  const res = await fetch(`${replica.httpUrl}/metrics`);
  assert.equal(res.status, 200);
  const families = parsePrometheusTextFormat(await res.text());
  const family = families.find((f) => f.name === name);
  if (family === undefined) return 0;
  return family.metrics
    .filter((m) => Object.entries(where).every(([k, v]) => m.labels?.[k] === v))
    .reduce((sum, m) => sum + Number(m.value ?? 0), 0);
}

test('HAProxy with the reference configuration in front of two replicas on PostgreSQL', { skip }, async () => {
  const dir = tempDir('airlock-haproxy-');
  let db: TestDatabase | null = null;
  const replicas: (RunningAirlock | undefined)[] = [undefined, undefined];
  let lb: ReferenceHaproxy | undefined;
  let core: Core | undefined;
  let node: TestSshd | undefined;
  const kills: (() => void)[] = [];
  try {
    db = (await withTestDatabase())!;
    const ports = [{ sshPort: await freePort(), httpPort: await freePort() }, { sshPort: await freePort(), httpPort: await freePort() }];
    const dataDirs = [join(dir, 'r1'), join(dir, 'r2')];
    const env = (i: number): NodeJS.ProcessEnv => ({
      AIRLOCK_DATABASE_URL: db!.url,
      // HAProxy connects from 127.0.0.1: the one address whose PROXY header and X-Forwarded-For count.
      AIRLOCK_TRUSTED_PROXIES: '127.0.0.1/32',
      AIRLOCK_GATEWAY_ALLOW_LOOPBACK_TARGETS: '1',
      AIRLOCK_CERT_DAILY_LIMIT: String(QUOTA),
      AIRLOCK_SSH_LISTEN: `127.0.0.1:${ports[i]!.sshPort}`,
      AIRLOCK_HTTP_LISTEN: `127.0.0.1:${ports[i]!.httpPort}`,
    });
    const start = (i: number) => startAirlock(dataDirs[i]!, env(i));
    replicas[0] = await start(0);
    // Replicas share the CA keys and the gateway host key (scale-out.md, step 3).
    for (const sub of ['ca', 'gateway']) cpSync(join(dataDirs[0]!, sub), join(dataDirs[1]!, sub), { recursive: true });
    const second = start(1);

    // The operator's side, on the same database and keys: users, a project and a target node.
    core = await openCore(loadConfig({ env: { AIRLOCK_DATABASE_URL: db.url }, flags: { data_dir: dataDirs[0] } }), { log: null });
    const c = core;
    const enrol = async (name: string) => (await enrolUser(c.store, { name, email: null, isAdmin: false, password: PASSWORD }, c.clock, { kdfCost: LOW_COST_FOR_TESTS })).totpSecret;
    const totps = new Map<string, string>();
    const withKey = async (name: string): Promise<UserKey> => {
      totps.set(name, await enrol(name));
      const key = writeKeyPair(join(dir, name));
      const user = (await c.store.users.byName(name))!;
      const issued = await c.ca.issueUserCertificate({ user, publicKey: parsePublicKey(readFileSync(`${key}.pub`, 'utf8').trim()), method: 'test', clientAddress: null });
      writeFileSync(`${key}-cert.pub`, issued.line + '\n');
      return { name, key, pub: `${key}.pub`, cert: `${key}-cert.pub`, serial: issued.serial };
    };
    const aliceTotp = await enrol('alice');
    const carolTotp = await enrol('carol');
    const dave = await withKey('dave');
    const erin = await withKey('erin');
    const admin = { name: 'test', clientAddress: null };
    await c.inventory.addProject('p', admin);
    for (const u of ['dave', 'erin']) await c.inventory.addMember('p', u, 'member', admin);
    const nodeDir = join(dir, 'node');
    const sshdCfg = await airlock(['admin', '--data-dir', dataDirs[0]!, 'sshd-config', '--output-dir', nodeDir, '--account', 'root=dave,erin'], { env: { AIRLOCK_DATABASE_URL: db.url, AIRLOCK_HTTP_LISTEN: '127.0.0.1:0' } });
    assert.equal(sshdCfg.code, 0, sshdCfg.stderr);
    node = await startSshd(nodeDir, sshdCfg.stdout.trim().split('\n'));
    await c.inventory.addTarget({ name: 'node', projectName: 'p', host: '127.0.0.1', port: node.port, loginUser: 'root', services: [], allowedCidrs: [], expiresAt: null }, admin);

    replicas[1] = await second;
    const [r1, r2] = replicas as [RunningAirlock, RunningAirlock];
    lb = await startReferenceHaproxy(ports);
    const lbUrl = `http://127.0.0.1:${lb.httpPort}`;
    await waitFor('both replicas ready through HAProxy', async () => ((await http('GET', `${lbUrl}/readyz`)).status === 200 ? true : undefined), 10_000);

    // ---- 1. Throttling and audit see each client's own address -----------------------------------
    const badFrom2: number[] = [];
    for (let i = 0; i < 6; i++) {
      // Different (unknown) names: only the address collects the failures.
      badFrom2.push((await http('POST', `${lbUrl}/api/v1/login`, { from: '127.0.0.2', body: { user: `nobody${i}`, password: 'wrong', otp: '000000' } })).status);
    }
    assert.equal(badFrom2.at(-1), 429, `127.0.0.2 is locked out after its failures (${badFrom2.join(',')})`);
    const aliceCode = currentTotp(aliceTotp, Date.now());
    const locked = await http('POST', `${lbUrl}/api/v1/login`, { from: '127.0.0.2', body: { user: 'alice', password: PASSWORD, otp: aliceCode } });
    assert.equal(locked.status, 429, 'the right password from the locked-out address is refused');
    const fine = await http('POST', `${lbUrl}/api/v1/login`, { from: '127.0.0.3', body: { user: 'alice', password: PASSWORD, otp: aliceCode } });
    assert.equal(fine.status, 200, `127.0.0.3 is not locked out: ${JSON.stringify(fine.json)}`);
    const logins = (await c.store.audit.list({ since: 0 })).filter((e) => e.type.startsWith('auth.') && e.type !== 'auth.browser_approval');
    const from = (addr: string) => logins.filter((e) => e.clientAddress === addr);
    assert.ok(from('127.0.0.2').length >= 7, 'every attempt from 127.0.0.2 is audited with its address');
    assert.deepEqual(from('127.0.0.3').map((e) => `${e.actor}:${e.outcome}`), ['alice:success']);
    assert.equal(from('127.0.0.1').length, 0, 'the load balancer\'s address stands for no client');

    // ---- 2. A PROXY header from an untrusted peer is refused ----------------------------------
    const spoof = (port: number, localAddress: string) => new Promise<string>((resolve) => {
      const s = connect({ host: '127.0.0.1', port, localAddress });
      let got = '';
      s.on('data', (d: Buffer) => (got += d.toString('latin1')));
      s.once('connect', () => s.write('PROXY TCP4 10.9.9.9 127.0.0.1 40000 22\r\n'));
      s.once('close', () => resolve(got));
      s.on('error', () => undefined);
      setTimeout(() => s.destroy(), 10_000).unref();
    });
    // Straight to a replica from 127.0.0.4 (not a trusted proxy), and through HAProxy from 127.0.0.5
    // (a second header after HAProxy's own): both connections are closed.
    await spoof(ports[0]!.sshPort, '127.0.0.4');
    await spoof(lb.sshPort, '127.0.0.5');
    const admissions = await waitFor('two proxy_header_untrusted records', async () => {
      const list = (await c.store.audit.list({ since: 0, type: 'gateway.admission' })).filter((e) => JSON.stringify(e.details).includes('proxy_header_untrusted'));
      return list.length >= 2 ? list : undefined;
    });
    assert.deepEqual(admissions.map((e) => e.clientAddress).sort(), ['127.0.0.4', '127.0.0.5'], 'each refusal names the real peer, never 10.9.9.9');

    // ---- 3. 50 concurrent certificate requests over both replicas: exactly the quota ----------------
    const carol = await http('POST', `${lbUrl}/api/v1/login`, { from: '127.0.0.3', body: { user: 'carol', password: PASSWORD, otp: currentTotp(carolTotp, Date.now()) } });
    assert.equal(carol.status, 200, JSON.stringify(carol.json));
    const issuedBefore = await Promise.all([r1, r2].map((r) => metric(r, 'airlock_certificates_total', { outcome: 'success' })));
    const httpBefore = await Promise.all([r1, r2].map((r) => metric(r, 'airlock_http_requests_total', { route: '/api/v1/certificates', method: 'POST' })));
    const key = formatPublicKey(publicKeyFromKeyObject(generateKeyPairSync('ed25519').publicKey));
    const statuses = await Promise.all(Array.from({ length: 50 }, () => http('POST', `${lbUrl}/api/v1/certificates`, { from: '127.0.0.3', body: { public_key: key }, token: carol.json.token as string }).then((r) => r.status)));
    assert.equal(statuses.filter((s) => s === 201).length, QUOTA, statuses.join(','));
    assert.equal(statuses.filter((s) => s === 429).length, 50 - QUOTA, statuses.join(','));
    const carolId = (await c.store.users.byName('carol'))!.id;
    assert.equal((await c.store.certificates.listByUser(carolId)).length, QUOTA, 'the ledger holds exactly the quota');
    const issuedAfter = await Promise.all([r1, r2].map((r) => metric(r, 'airlock_certificates_total', { outcome: 'success' })));
    const httpAfter = await Promise.all([r1, r2].map((r) => metric(r, 'airlock_http_requests_total', { route: '/api/v1/certificates', method: 'POST' })));
    assert.equal(issuedAfter[0]! + issuedAfter[1]! - issuedBefore[0]! - issuedBefore[1]!, QUOTA, 'the replicas\' counters add up to the certificates issued');
    assert.ok(httpAfter.every((n, i) => n - httpBefore[i]! > 0), `both replicas served requests (${httpBefore.join(',')} → ${httpAfter.join(',')})`);
    assert.equal(httpAfter[0]! + httpAfter[1]! - httpBefore[0]! - httpBefore[1]!, 50);

    // ProxyJump through HAProxy, from client address 127.0.0.2 (BindAddress).
    const gatewayKey = JSON.parse((await r1.admin(['gateway-info', '--json'])).stdout) as { host_key: string };
    const knownHosts = join(dir, 'known_hosts');
    writeFileSync(knownHosts, `[127.0.0.1]:${lb.sshPort} ${gatewayKey.host_key}\n[node]:${node.port} ${node.hostKeyPub.split(' ').slice(0, 2).join(' ')}\n`);
    const sshConfig = (u: UserKey, extra: string[] = []) => writeSshConfig(join(dir, `ssh_config_${u.name}`), knownHosts, [
      { alias: 'lb', hostName: '127.0.0.1', port: lb!.sshPort, user: u.name, key: u, extra: ['BindAddress 127.0.0.2', 'LogLevel INFO', ...extra] },
      { alias: 'node', hostName: 'node', port: node!.port, user: 'root', key: u, proxyJump: 'lb' },
    ]);
    const carrying = async (): Promise<number> => {
      const counts = await Promise.all([r1, r2].map((r) => metric(r, 'airlock_gateway_connections', { state: 'authenticated' })));
      const i = counts.findIndex((n) => n > 0);
      assert.ok(i >= 0 && counts.filter((n) => n > 0).length === 1, `one replica carries the session (${counts.join(',')})`);
      return i;
    };

    // ---- 4. A revocation through one replica refuses the next channel on the other within a second ----
    const erinCfg = sshConfig(erin, ['ControlMaster auto', `ControlPath ${join(dir, 'cm-erin')}`, 'ControlPersist 60']);
    const erinFirst = await sshF(erinCfg, ['node', 'true']);
    assert.equal(erinFirst.code, 0, erinFirst.stderr);
    const erinOn = await carrying();
    const other = [r1, r2][1 - erinOn]!;
    const erinLogin = await http('POST', `${other.httpUrl}/api/v1/login`, { body: { user: 'erin', password: PASSWORD, otp: currentTotp(totps.get('erin')!, Date.now()) } });
    assert.equal(erinLogin.status, 200, JSON.stringify(erinLogin.json));
    const revoke = await http('DELETE', `${other.httpUrl}/api/v1/certificates/${erin.serial}`, { token: erinLogin.json.token as string });
    assert.equal(revoke.status, 200, JSON.stringify(revoke.json));
    const revokedAt = performance.now();
    let refusedAfter = Infinity;
    for (let i = 0; i < 50; i++) {
      const r = await sshF(erinCfg, ['node', 'true'], { timeoutMs: 10_000 });
      if (r.code !== 0) {
        refusedAfter = performance.now() - revokedAt;
        break;
      }
    }
    assert.ok(refusedAfter < WITHIN_MS, `the next channel was refused ${Math.round(refusedAfter)} ms after the revocation on the other replica`);
    // The revoked master is ended by the live check (gateway-live tests); wait for it, and stop the
    // client's master, so that the next step sees only its own session.
    await sshF(erinCfg, ['-O', 'exit', 'lb']);
    await waitFor('no authenticated connection left on either replica', async () => {
      const counts = await Promise.all([r1, r2].map((r) => metric(r, 'airlock_gateway_connections', { state: 'authenticated' })));
      return counts.every((n) => n === 0) ? true : undefined;
    }, 15_000);

    // ---- 5. kill -9 during a ProxyJump session; the reconnect lands on the other replica -------------
    const daveCfg = sshConfig(dave);
    const session = holdSshSession(daveCfg, 'node');
    kills.push(session.kill);
    await session.ready;
    const daveOn = await carrying();
    const auditBefore = await c.store.audit.list({ since: 0 });
    const ledgerBefore = await c.store.certificates.listByUser(carolId);
    replicas[daveOn]!.kill('SIGKILL');
    await replicas[daveOn]!.exited;
    assert.notEqual((await session.exited).code, 0, 'the session through the killed replica ends');
    const again = await sshF(daveCfg, ['node', 'echo', 'again'], { timeoutMs: 20_000 });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout.trim(), 'again');
    const auditAfter = await c.store.audit.list({ since: 0 });
    const ids = new Set(auditAfter.map((e) => e.id));
    assert.ok(auditBefore.every((e) => ids.has(e.id)), 'every audit record written before the kill is still there');
    const daveLogins = auditAfter.filter((e) => e.type === 'gateway.auth' && e.actor === 'dave' && e.outcome === 'success');
    assert.equal(daveLogins.length, 2, 'both logins are audited: on the killed replica and on the survivor');
    assert.ok(daveLogins.every((e) => e.clientAddress === '127.0.0.2'), 'with the client\'s own address');
    assert.deepEqual((await c.store.certificates.listByUser(carolId)).map((r) => r.serial), ledgerBefore.map((r) => r.serial), 'the ledger is intact');
  } finally {
    for (const k of kills) k();
    await lb?.stop();
    for (const r of replicas) await r?.stop();
    await node?.stop();
    await core?.close();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  }
});
