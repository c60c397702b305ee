import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Hono } from 'hono';
import { generateKeyPairSync } from 'node:crypto';
import { errorResponse } from './api-errors.ts';
import { gatewayRoutes } from './gateway-routes.ts';
import { gatewayTrust } from '../gateway/host-key.ts';
import { publicKeyFromKeyObject } from '../ssh/keys.ts';

function app(trust: Parameters<typeof gatewayRoutes>[0]): Hono {
  const a = new Hono();
  a.onError((err, c) => errorResponse(err, c, () => {}));
  a.route('/', gatewayRoutes(trust));
  return a;
}

test('GET /api/v1/gateway: endpoint, fingerprint, randomart and known_hosts line; 503 without a gateway', async () => {
  const key = publicKeyFromKeyObject(generateKeyPairSync('ed25519').privateKey);
  const t = gatewayTrust(key, { host: 'gw.example.org', port: 22 });
  const res = await app(() => t).request('/api/v1/gateway');
  assert.equal(res.status, 200);
  const body = (await res.json()) as Record<string, unknown>;
  assert.equal(body.ssh, 'gw.example.org:22');
  assert.equal(body.fingerprint, t.fingerprint);
  assert.equal(body.known_hosts, `gw.example.org ${t.hostKey}`);
  assert.match(String(body.randomart), /^\+--\[ED25519 256\]--\+/);
  const none = await app(() => null).request('/api/v1/gateway');
  assert.equal(none.status, 503);
  assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'unavailable');
});
