/**
 * Browser-approval latency (issue 14, item 2): how long after a person presses "Approve" the waiting
 * SSH session continues. The stock OpenSSH client logs in to the gateway with the browser login in
 * zero-prompt mode (`AIRLOCK_GATEWAY_BROWSER_PROMPT=none`); the bench reads the link and code from the
 * keyboard-interactive instructions on its stderr, approves through the real HTTP route
 * (`POST /login/b/…/approve` with a signed-in web session, as the browser does), and times from sending
 * that request to ssh's `Authenticated to …` line (USERAUTH_SUCCESS received, `-v`). Scenarios: one replica on SQLite; one replica on
 * PostgreSQL; SSH on replica A and the approval through replica B, both on one PostgreSQL database
 * (the wake-up travels by LISTEN/NOTIFY). Both replicas run in this process, each with its own
 * services, so nothing but the database connects them.
 *
 *   npm run bench:approval                       # 20 rounds per scenario
 *   BENCH_ROUNDS=50 npm run bench:approval
 * PostgreSQL scenarios need AIRLOCK_TEST_DATABASE_URL (a server the bench may create a database on).
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startTestServer, TEST_PASSWORD, type TestServer } from '../test/harness/in-process.ts';
import { WebClient } from '../test/harness/web-client.ts';
import { LINK, CODE } from '../test/harness/ssh-browser-login.ts';
import { withTestDatabase } from '../test/harness/postgres.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);
const ENV = {
  AIRLOCK_GATEWAY_AUTH: 'certificate,browser',
  AIRLOCK_GATEWAY_BROWSER_PROMPT: 'none',
  AIRLOCK_GATEWAY_PENALTIES: 'off',
  AIRLOCK_BROWSER_LOGIN_RATE_PER_ADDRESS: '100000',
  AIRLOCK_BROWSER_LOGIN_RATE_TOTAL: '100000',
};

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** A web session signed in as `user` on `server` (the approver's browser). */
async function signIn(server: TestServer, user: string, secret: string): Promise<WebClient> {
  const web = new WebClient(server.url);
  await web.get('/login');
  const r = await web.post('/login/password', { next: '/', user, password: TEST_PASSWORD, otp: server.totp(secret) });
  if (r.status !== 303) throw new Error(`sign-in failed: ${r.status} ${r.text.slice(0, 200)}`);
  return web;
}

/**
 * One login at `gateway` with the stock OpenSSH client, approved through `web`; returns ms from
 * sending the approval request to ssh's "Authenticated to" line (USERAUTH_SUCCESS received), and the
 * approval request's own ms.
 */
function oneLogin(gateway: { host: string; port: number }, user: string, knownHosts: string, web: WebClient): Promise<{ total: number; http: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn('ssh', [
      '-v', '-F', '/dev/null', '-p', String(gateway.port), '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'GlobalKnownHostsFile=/dev/null',
      '-o', 'StrictHostKeyChecking=yes', '-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=keyboard-interactive',
      '-o', 'BatchMode=no', '-o', 'ControlMaster=no', `${user}@${gateway.host}`, 'hosts',
    ], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SSH_AUTH_SOCK: '' } });
    let stderr = '';
    let sentAt = 0;
    let http = 0;
    let done = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (sentAt === 0) {
        const url = LINK.exec(stderr)?.[1];
        const code = CODE.exec(stderr)?.[1];
        if (url === undefined || code === undefined) return;
        sentAt = performance.now();
        web.post(`${new URL(url).pathname}/approve`, { code }).then((r) => {
          http = performance.now() - sentAt;
          if (r.status !== 200) reject(new Error(`approval failed: ${r.status} ${r.text.slice(0, 200)}`));
        }, reject);
      } else if (!done && stderr.includes('Authenticated to ')) {
        done = true;
        const total = performance.now() - sentAt;
        child.once('close', () => resolve({ total, http }));
      }
    });
    child.once('close', () => {
      clearTimeout(timer);
      if (!done) reject(new Error(`ssh ended before it was authenticated:\n${stderr}`));
    });
  });
}

/** `user` logs in at `gatewayAt` and approves at `approveAt` (each user signs in once: a TOTP code is accepted once). */
async function scenario(name: string, gatewayAt: TestServer, approveAt: TestServer, user: string, secret: string): Promise<void> {
  const web = await signIn(approveAt, user, secret);
  const gw = gatewayAt.server.gateway.address;
  const knownHosts = join(gatewayAt.dataDir, 'known_hosts_bench');
  writeFileSync(knownHosts, gatewayAt.server.gateway.trust().knownHostsLine + '\n');
  await oneLogin(gw, user, knownHosts, web); // warm-up: connections, JIT
  const totals: number[] = [];
  const https: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const r = await oneLogin(gw, user, knownHosts, web);
    totals.push(r.total);
    https.push(r.http);
  }
  totals.sort((a, b) => a - b);
  https.sort((a, b) => a - b);
  const f = (x: number) => x.toFixed(1);
  console.log(`${name.padEnd(44)} p50 ${f(percentile(totals, 50))} ms  p90 ${f(percentile(totals, 90))} ms  max ${f(totals.at(-1)!)} ms  (approval request alone: p50 ${f(percentile(https, 50))} ms)`);
}

console.log(`approval → SSH session continues, ${ROUNDS} rounds each`);
{
  const a = await startTestServer({ env: ENV });
  try {
    const { secret } = await a.addUser('alice');
    await scenario('same replica, SQLite', a, a, 'alice', secret);
  } finally {
    await a.stop();
  }
}
const db = await withTestDatabase();
if (db === null) {
  console.log('PostgreSQL scenarios skipped: set AIRLOCK_TEST_DATABASE_URL');
} else {
  const env = { ...ENV, AIRLOCK_DATABASE_URL: db.url };
  let a: TestServer | undefined;
  let b: TestServer | undefined;
  try {
    a = await startTestServer({ env });
    b = await startTestServer({ env, shareCaWith: a });
    const alice = await a.addUser('alice');
    const bob = await a.addUser('bob');
    await scenario('same replica, PostgreSQL', a, a, 'alice', alice.secret);
    await scenario('SSH on replica A, approval on B, PostgreSQL', a, b, 'bob', bob.secret);
  } finally {
    await b?.stop();
    await a?.stop();
    await db.drop();
  }
}
