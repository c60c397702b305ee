import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, parseListen } from './config.ts';
import { isAirlockError } from './errors.ts';

test('defaults match PRODUCT.md', () => {
  const c = loadConfig({ env: {} });
  assert.deepEqual(c.sshListen, { host: '127.0.0.1', port: 2222 });
  assert.deepEqual(c.httpListen, { host: '127.0.0.1', port: 8080 });
  assert.equal(c.certTtlMs, 86_400_000);
  assert.equal(c.certDailyLimit, 5);
  assert.match(c.dataDir, /airlock-data$/);
});

test('flags beat environment beat config file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-config-'));
  try {
    const file = join(dir, 'airlock.json');
    writeFileSync(file, JSON.stringify({ cert_ttl: '1h', cert_daily_limit: 3, http_listen: '127.0.0.1:9000' }));
    const c = loadConfig({ env: { AIRLOCK_CERT_TTL: '2h' }, flags: { http_listen: '127.0.0.1:0' }, configFile: file });
    assert.equal(c.certTtlMs, 7_200_000);
    assert.equal(c.certDailyLimit, 3);
    assert.equal(c.httpListen.port, 0);
    writeFileSync(file, JSON.stringify({ cert_tll: '1h' }));
    assert.throws(() => loadConfig({ env: {}, configFile: file }), (e) => isAirlockError(e, 'config') && /cert_tll/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('listen addresses: IPv6 in brackets, bad forms refused', () => {
  assert.deepEqual(parseListen('[::1]:0', 'x'), { host: '::1', port: 0 });
  for (const bad of ['localhost', '1.2.3.4:70000', ':22', '::1:22']) {
    assert.throws(() => parseListen(bad, 'x'), (e) => isAirlockError(e, 'config'));
  }
});

test('invalid limits and database URLs are refused', () => {
  assert.throws(() => loadConfig({ env: { AIRLOCK_CERT_DAILY_LIMIT: '0' } }), (e) => isAirlockError(e, 'config'));
  assert.throws(() => loadConfig({ env: { AIRLOCK_DATABASE_URL: 'mysql://x' } }), (e) => isAirlockError(e, 'config'));
  assert.throws(() => loadConfig({ env: { AIRLOCK_CERT_TTL: '10s' } }), (e) => isAirlockError(e, 'config'));
});

test('trusted proxies: a CIDR list, empty by default, bad entries refused with the variable named', () => {
  assert.deepEqual(loadConfig({ env: {} }).trustedProxies, []);
  assert.deepEqual(loadConfig({ env: { AIRLOCK_TRUSTED_PROXIES: '10.0.0.0/8, 127.0.0.2,fd00::/8' } }).trustedProxies, ['10.0.0.0/8', '127.0.0.2', 'fd00::/8']);
  assert.throws(() => loadConfig({ env: { AIRLOCK_TRUSTED_PROXIES: '10.0.0.0/33' } }), (e) => isAirlockError(e, 'config') && /AIRLOCK_TRUSTED_PROXIES/.test(e.message));
});

test('the trusted proxies\' header: X-Forwarded-For by default, or Forwarded; nothing else', () => {
  assert.equal(loadConfig({ env: {} }).trustedProxyHeader, 'x-forwarded-for');
  assert.equal(loadConfig({ env: { AIRLOCK_TRUSTED_PROXY_HEADER: 'Forwarded' } }).trustedProxyHeader, 'forwarded');
  assert.throws(() => loadConfig({ env: { AIRLOCK_TRUSTED_PROXY_HEADER: 'x-real-ip' } }), (e) => isAirlockError(e, 'config') && /AIRLOCK_TRUSTED_PROXY_HEADER/.test(e.message));
});

test('browser-login start limits: per address and in total, per minute', () => {
  const c = loadConfig({ env: {} });
  assert.equal(c.browserLoginRatePerAddress, 10);
  assert.equal(c.browserLoginRateTotal, 600);
  assert.equal(loadConfig({ env: { AIRLOCK_BROWSER_LOGIN_RATE_PER_ADDRESS: '3', AIRLOCK_BROWSER_LOGIN_RATE_TOTAL: '50' } }).browserLoginRateTotal, 50);
  assert.throws(() => loadConfig({ env: { AIRLOCK_BROWSER_LOGIN_RATE_PER_ADDRESS: '0' } }), (e) => isAirlockError(e, 'config'));
});

test('maximum gateway session age and live-check interval: 12h and 500ms by default, bounded, the variable named', () => {
  const d = loadConfig({ env: {} }).gateway;
  assert.equal(d.maxSessionMs, 12 * 3_600_000);
  assert.equal(d.liveCheckMs, 500);
  const c = loadConfig({ env: { AIRLOCK_GATEWAY_MAX_SESSION: '8h30m', AIRLOCK_GATEWAY_LIVE_CHECK: '250ms' } }).gateway;
  assert.equal(c.maxSessionMs, 8.5 * 3_600_000);
  assert.equal(c.liveCheckMs, 250);
  for (const bad of ['0s', '31d']) assert.throws(() => loadConfig({ env: { AIRLOCK_GATEWAY_MAX_SESSION: bad } }), (e) => isAirlockError(e, 'config') && /AIRLOCK_GATEWAY_MAX_SESSION/.test(e.message));
  assert.throws(() => loadConfig({ env: { AIRLOCK_GATEWAY_LIVE_CHECK: '2m' } }), (e) => isAirlockError(e, 'config') && /AIRLOCK_GATEWAY_LIVE_CHECK/.test(e.message));
});

test('drain timeout: 30s by default, 0 closes at once, at most an hour, the variable named', () => {
  assert.equal(loadConfig({ env: {} }).drainTimeoutMs, 30_000);
  assert.equal(loadConfig({ env: { AIRLOCK_DRAIN_TIMEOUT: '0' } }).drainTimeoutMs, 0);
  assert.equal(loadConfig({ env: { AIRLOCK_DRAIN_TIMEOUT: '2m' } }).drainTimeoutMs, 120_000);
  assert.throws(() => loadConfig({ env: { AIRLOCK_DRAIN_TIMEOUT: '2h' } }), (e) => isAirlockError(e, 'config') && /AIRLOCK_DRAIN_TIMEOUT/.test(e.message));
  assert.throws(() => loadConfig({ env: { AIRLOCK_DRAIN_TIMEOUT: 'soon' } }), (e) => isAirlockError(e) && /AIRLOCK_DRAIN_TIMEOUT/.test(e.message));
});
