import { test } from 'node:test';
import assert from 'node:assert/strict';
import { preferredLocalPort, serviceUrl } from './platform-info.ts';
import { planTunnel } from './tunnel-command.ts';
import type { TargetInfo } from './platform-info.ts';

test('service URLs carry the path and the token (a Jupyter URL opens Jupyter)', () => {
  assert.equal(serviceUrl(8888, { path: '/lab', token: 'abc' }), 'http://127.0.0.1:8888/lab?token=abc');
  assert.equal(serviceUrl(8888, { path: null, token: 'abc' }), 'http://127.0.0.1:8888/?token=abc');
  assert.equal(serviceUrl(8888, { path: '/tree', token: null }), 'http://127.0.0.1:8888/tree');
  assert.equal(serviceUrl(6379, { path: null, token: null }), null, 'no URL for a service that is not known to be web');
});

test('the local port a tunnel tries first: the same number, unless it is privileged', () => {
  assert.equal(preferredLocalPort(8888), 8888);
  assert.equal(preferredLocalPort(80), 10080);
  assert.equal(preferredLocalPort(1024), 1024);
});

const vm1: TargetInfo = {
  name: 'vm1', project: 'p', host: '10.0.0.5', port: 22, address: '10.0.0.5:22', login_user: null, expires_at: null,
  services: [{ name: 'jupyter', port: 8888, path: '/lab', token: 't' }, { name: 'redis', port: 6379, path: null, token: null }],
};

test('planTunnel: a service by name or by port; unknown names say what exists', () => {
  assert.equal(planTunnel([vm1], 'vm1', 'jupyter').port, 8888);
  assert.equal(planTunnel([vm1], 'vm1', '6379').service?.name, 'redis');
  assert.equal(planTunnel([vm1], 'vm1', '22').service, null);
  assert.throws(() => planTunnel([vm1], 'vm2', 'jupyter'), /no target named "vm2"; yours: vm1/);
  assert.throws(() => planTunnel([vm1], 'vm1', 'tensorboard'), /no service named "tensorboard"; its services: jupyter \(8888\), redis \(6379\)/);
  assert.throws(() => planTunnel([vm1], 'vm1', '70000'), /not a port number/);
});

test('a hostile server: a gateway host, fingerprint or key that could inject config lines is refused', async () => {
  const { createServer } = await import('node:http');
  const { fetchGatewayInfo } = await import('./platform-info.ts');
  const good = { ssh: 'gw.example.org:2222', host: 'gw.example.org', port: 2222, host_key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ45mEw6t+5yl2hePPhibeF4O5crnKjoVg8Z2fOo4T28', fingerprint: `SHA256:${'A'.repeat(43)}`, randomart: 'x' };
  let body: Record<string, unknown> = good;
  const server = createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  try {
    assert.equal((await fetchGatewayInfo(url)).host, 'gw.example.org');
    for (const bad of [
      { host: 'gw.example.org\n    ProxyCommand touch /tmp/x' },
      { port: 70000 },
      { fingerprint: 'SHA256:abc\nProxyMethod=5' },
      { host_key: 'ssh-ed25519 AAAA\nHost *' },
    ]) {
      body = { ...good, ...bad };
      await assert.rejects(fetchGatewayInfo(url), /unexpected gateway/, JSON.stringify(bad));
    }
  } finally {
    server.close();
  }
});
