/**
 * Issue 10 item 6: `/api/v1/device/authorize` and SSH keyboard-interactive starts need no credentials
 * and each wrote a database row, without any limit. Now starts are limited per client address and in
 * total (a clear 429 on HTTP, a clear line in the terminal on SSH), and expired rows are pruned.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { ManualClock } from '../../src/clock.ts';
import { EXPIRED_LOGIN_RETENTION_MS } from '../../src/identity/browser-login.ts';
import { startTestServer, type TestServer } from '../harness/in-process.ts';
import { writeSshConfig } from '../harness/gateway.ts';
import { sshWithLink } from '../harness/ssh-browser-login.ts';

/** POSTs /api/v1/device/authorize as if through the trusted proxy at 127.0.0.1 for `client`. */
async function authorize(t: TestServer, client: string): Promise<{ status: number; retryAfter: string | null; body: { error?: { message: string } } }> {
  const res = await fetch(`${t.url}/api/v1/device/authorize`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': client }, body: JSON.stringify({ user: 'alice' }) });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as { error?: { message: string } } };
}

test('device/authorize: limited per address and in total with a clear 429; expired rows are pruned', async () => {
  const clock = new ManualClock(Date.parse('2026-12-04T12:00:00Z'));
  const t = await startTestServer({
    clock,
    env: { AIRLOCK_TRUSTED_PROXIES: '127.0.0.1', AIRLOCK_BROWSER_LOGIN_RATE_PER_ADDRESS: '4', AIRLOCK_BROWSER_LOGIN_RATE_TOTAL: '6' },
  });
  try {
    for (let i = 0; i < 4; i++) assert.equal((await authorize(t, '198.51.100.1')).status, 200);
    const perAddress = await authorize(t, '198.51.100.1');
    assert.equal(perAddress.status, 429);
    assert.match(perAddress.body.error?.message ?? '', /Too many logins were started from your address; try again after/);
    assert.ok(Number(perAddress.retryAfter) >= 1);
    // Another client is not affected by the first one's limit, until the total is reached.
    assert.equal((await authorize(t, '198.51.100.2')).status, 200);
    assert.equal((await authorize(t, '198.51.100.3')).status, 200);
    const total = await authorize(t, '198.51.100.4');
    assert.equal(total.status, 429);
    assert.match(total.body.error?.message ?? '', /Too many logins are being started right now/);
    assert.equal(countRows(t), 6, 'refused starts wrote nothing');

    // A minute later starts are allowed again; long-expired requests are pruned, recent ones kept.
    clock.advance(t.server.browserLogin.logins.ttlMs + EXPIRED_LOGIN_RETENTION_MS + 1);
    assert.equal((await authorize(t, '198.51.100.1')).status, 200);
    assert.equal(await t.server.browserLogin.logins.pruneExpired(), 6);
    assert.equal(countRows(t), 1);
  } finally {
    await t.stop();
  }
});

/** Rows in browser_logins, read from the SQLite file beside the running server. */
function countRows(t: TestServer): number {
  const db = new DatabaseSync(join(t.dataDir, 'airlock.db'));
  try {
    return Number((db.prepare('SELECT count(*) AS n FROM browser_logins').get() as { n: number }).n);
  } finally {
    db.close();
  }
}

test('SSH keyboard-interactive: past the per-address limit the terminal says so and no row is written', async () => {
  const t = await startTestServer({ env: { AIRLOCK_GATEWAY_AUTH: 'certificate,browser', AIRLOCK_GATEWAY_BROWSER_PROMPT: 'none', AIRLOCK_GATEWAY_PENALTIES: 'off', AIRLOCK_BROWSER_LOGIN_RATE_PER_ADDRESS: '1' } });
  try {
    await t.addUser('alice');
    // The one start this address may make in this minute (ssh below also comes from 127.0.0.1).
    assert.equal((await fetch(`${t.url}/api/v1/device/authorize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'alice' }) })).status, 200);
    const knownHosts = join(t.dataDir, 'known_hosts_test');
    writeFileSync(knownHosts, t.server.gateway.trust().knownHostsLine + '\n');
    const { host, port } = t.server.gateway.address;
    const cfg = writeSshConfig(join(t.dataDir, 'ssh_config_test'), knownHosts, [
      { alias: 'gw', hostName: host, port, user: 'alice', extra: ['PubkeyAuthentication no', 'PreferredAuthentications keyboard-interactive', 'BatchMode no', 'LogLevel INFO', 'NumberOfPasswordPrompts 1'] },
    ]);
    const r = await sshWithLink(cfg, ['gw', 'hosts'], () => Promise.resolve(), { timeoutMs: 60_000 });
    assert.equal(r.linkSeen, false);
    assert.equal(r.code, 255, r.stdout);
    assert.match(r.stderr, /Too many logins were started from your address; try again after/);
    assert.equal(countRows(t), 1);
    const events = await t.server.core.store.audit.list({ type: 'gateway.auth', actor: 'alice' });
    assert.ok(events.some((e) => e.outcome === 'denied' && e.details.reason === 'rate_limited'), JSON.stringify(events));
  } finally {
    await t.stop();
  }
});
