/**
 * The operations endpoints of a running Airlock: `/healthz`, `/readyz` (and how it fails when the
 * database is gone), and `/metrics`, parsed with an independent Prometheus text-format parser, whose
 * counters must move with real traffic (an OpenSSH login at the gateway, a refused forward, HTTP
 * requests), served only to the addresses in AIRLOCK_METRICS_ALLOW.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { join } from 'node:path';
import parsePrometheusTextFormat, { type PrometheusFamily } from 'parse-prometheus-text-format';
import { sshF, startTestGateway, writeSshConfig, type TestGateway, type UserKey } from '../harness/gateway.ts';
import { waitFor } from '../harness/processes.ts';

let gw: TestGateway;
let cfg: string;
let alice: UserKey;

before(async () => {
  gw = await startTestGateway({ AIRLOCK_GATEWAY_PENALTIES: 'off', AIRLOCK_METRICS_ALLOW: '127.0.0.1/32' });
  alice = await gw.user('alice');
  cfg = writeSshConfig(join(gw.dir, 'ssh_config'), gw.knownHosts, [{ alias: 'gw', hostName: gw.host, port: gw.port, user: 'alice', key: alice }]);
});

after(async () => {
  await gw?.stop();
});

/** GET `path` from the HTTP listener, with the client socket bound to `localAddress`. */
function get(path: string, localAddress = '127.0.0.1'): Promise<{ status: number; type: string; body: string }> {
  const url = new URL(path, gw.server.httpUrl);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, localAddress }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The value of one sample of `name` whose labels include `labels` (0 when absent). */
function sample(families: PrometheusFamily[], name: string, labels: Record<string, string> = {}): number {
  const family = families.find((f) => f.name === name);
  const m = family?.metrics.find((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v));
  return m?.value === undefined ? 0 : Number(m.value);
}

async function scrape(): Promise<PrometheusFamily[]> {
  const res = await get('/metrics');
  assert.equal(res.status, 200, res.body);
  assert.match(res.type, /^text\/plain; version=0\.0\.4/);
  return parsePrometheusTextFormat(res.body);
}

test('/healthz answers while the process runs; /readyz lists its checks', async () => {
  const health = await get('/healthz');
  assert.equal(health.status, 200);
  const ready = await get('/readyz');
  assert.equal(ready.status, 200, ready.body);
  const report = JSON.parse(ready.body) as { ready: boolean; checks: Record<string, { ok: boolean }> };
  assert.equal(report.ready, true);
  assert.deepEqual(Object.keys(report.checks).sort(), ['ca_keys', 'database', 'draining', 'ssh_listener']);
});

test('/metrics parses as Prometheus text, and its counters move with a login, a refused forward and HTTP requests', async () => {
  const before = await scrape();
  const names = new Set(before.map((f) => f.name));
  for (const n of ['airlock_authentications_total', 'airlock_gateway_channels_total', 'airlock_gateway_connections', 'airlock_http_requests_total', 'airlock_http_request_duration_seconds', 'airlock_certificates_total', 'airlock_process_cpu_seconds_total']) {
    assert.ok(names.has(n), `${n} is exported`);
  }
  assert.equal(before.find((f) => f.name === 'airlock_http_request_duration_seconds')?.type, 'HISTOGRAM');

  const login = await sshF(cfg, ['gw', 'hosts']);
  assert.equal(login.code, 0, login.stderr);
  const refused = await sshF(cfg, ['-W', '127.0.0.1:9', 'gw']);
  assert.notEqual(refused.code, 0);
  await get('/readyz');
  await gw.certify(alice);

  // Channel records are audited when the channel ends, a moment after ssh exits.
  const after = await waitFor('the refused channel in /metrics', async () => {
    const f = await scrape();
    return sample(f, 'airlock_gateway_channels_total', { type: 'direct-tcpip', outcome: 'denied' }) > sample(before, 'airlock_gateway_channels_total', { type: 'direct-tcpip', outcome: 'denied' }) ? f : undefined;
  });
  const auth = { service: 'ssh', method: 'certificate', outcome: 'success' };
  assert.ok(sample(after, 'airlock_authentications_total', auth) >= sample(before, 'airlock_authentications_total', auth) + 2, 'both ssh logins are counted');
  const readyz = { method: 'GET', route: '/readyz', status: '200' };
  assert.ok(sample(after, 'airlock_http_requests_total', readyz) > sample(before, 'airlock_http_requests_total', readyz));
  const issued = { kind: 'user', outcome: 'success' };
  assert.ok(sample(after, 'airlock_certificates_total', issued) > sample(before, 'airlock_certificates_total', issued), 'the certificate is counted');
});

test('/metrics is refused to an address outside AIRLOCK_METRICS_ALLOW', async () => {
  const res = await get('/metrics', '127.0.0.2');
  assert.equal(res.status, 403);
  assert.match(res.body, /AIRLOCK_METRICS_ALLOW/);
  assert.doesNotMatch(res.body, /airlock_/);
});

test('/readyz says not ready, and why, when the database is gone', async () => {
  await gw.server.core.store.close();
  const res = await get('/readyz');
  assert.equal(res.status, 503);
  const report = JSON.parse(res.body) as { ready: boolean; checks: Record<string, { ok: boolean; message?: string }> };
  assert.equal(report.ready, false);
  assert.equal(report.checks.database?.ok, false);
  assert.equal(report.checks.ssh_listener?.ok, true);
});
