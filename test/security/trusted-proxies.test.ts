/**
 * Issue 10 item 1 (HTTP): behind a reverse proxy every request comes from the proxy's address, so
 * throttling on the socket peer locks everyone out after five wrong passwords from anyone. With
 * AIRLOCK_TRUSTED_PROXIES the forwarded header is believed from those peers only: a client that sets
 * X-Forwarded-For itself gains nothing, and two clients behind the proxy are throttled apart.
 * The "proxy" is a real loopback peer (127.0.0.1) and the outsider binds its socket to 127.0.0.2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { request } from 'node:http';
import { ManualClock } from '../../src/clock.ts';
import { formatPublicKey, publicKeyFromKeyObject } from '../../src/ssh/keys.ts';
import { startTestServer, TEST_PASSWORD, type TestServer } from '../harness/in-process.ts';

/** POSTs JSON to the server from `localAddress`, with extra headers; status and parsed body. */
function postFrom(t: TestServer, path: string, body: unknown, localAddress: string, headers: Record<string, string> = {}, chunked = false): Promise<{ status: number; json: Record<string, unknown> }> {
  const url = new URL(path, t.url);
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', localAddress, agent: false, headers: { 'content-type': 'application/json', ...(chunked ? {} : { 'content-length': String(Buffer.byteLength(data)) }), ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: Record<string, unknown> = {};
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
      },
    );
    req.on('error', reject);
    // Without a content-length Node sends the body chunked (Transfer-Encoding: chunked).
    if (chunked) req.write(data);
    req.end(chunked ? undefined : data);
  });
}

const wrong = (user: string) => ({ user, password: 'not the password', otp: '123456' });

test('X-Forwarded-For is honoured from a trusted proxy and ignored from anyone else', async () => {
  const t = await startTestServer({ clock: new ManualClock(Date.parse('2026-12-04T10:00:00Z')), env: { AIRLOCK_TRUSTED_PROXIES: '127.0.0.1' } });
  try {
    assert.equal((await postFrom(t, '/api/v1/login', wrong('viaproxy'), '127.0.0.1', { 'x-forwarded-for': '203.0.113.50, 198.51.100.7' })).status, 401);
    assert.equal((await postFrom(t, '/api/v1/login', wrong('outsider'), '127.0.0.2', { 'x-forwarded-for': '198.51.100.8' })).status, 401);
    const audited = async (actor: string) => (await t.server.core.store.audit.list({ actor, type: 'auth.password_totp' })).map((e) => e.clientAddress);
    // The proxy's own entry (the rightmost) wins over what the client wrote in front of it.
    assert.deepEqual(await audited('viaproxy'), ['198.51.100.7']);
    assert.deepEqual(await audited('outsider'), ['127.0.0.2']);
    // A chunked body (which the body limit re-wraps) resolves the same way.
    assert.equal((await postFrom(t, '/api/v1/login', wrong('chunky'), '127.0.0.1', { 'x-forwarded-for': '198.51.100.77' }, true)).status, 401);
    assert.deepEqual(await audited('chunky'), ['198.51.100.77']);

    // The outsider cannot dodge its lock by rotating the header.
    for (let i = 1; i < 5; i++) assert.equal((await postFrom(t, '/api/v1/login', wrong(`outsider${i}`), '127.0.0.2', { 'x-forwarded-for': `198.51.100.${10 + i}` })).status, 401);
    const locked = await postFrom(t, '/api/v1/login', wrong('outsider9'), '127.0.0.2', { 'x-forwarded-for': '198.51.100.99' });
    assert.equal(locked.status, 429);
  } finally {
    await t.stop();
  }
});

test('two clients behind a trusted proxy: one is locked out after wrong passwords, the other signs in', async () => {
  const t = await startTestServer({ clock: new ManualClock(Date.parse('2026-12-04T11:00:00Z')), env: { AIRLOCK_TRUSTED_PROXIES: '127.0.0.1' } });
  try {
    const { secret } = await t.addUser('dora');
    const attacker = { 'x-forwarded-for': '198.51.100.66' };
    for (let i = 0; i < 5; i++) assert.equal((await postFrom(t, '/api/v1/login', wrong(`victim${i}`), '127.0.0.1', attacker)).status, 401);
    const refused = await postFrom(t, '/api/v1/login', { user: 'dora', password: TEST_PASSWORD, otp: t.totp(secret) }, '127.0.0.1', attacker);
    assert.equal(refused.status, 429, 'the attacking address is locked');
    // A forged entry in front of the proxy's does not move the attacker to a fresh address either.
    assert.equal((await postFrom(t, '/api/v1/login', wrong('victim9'), '127.0.0.1', { 'x-forwarded-for': '203.0.113.1, 198.51.100.66' })).status, 429);

    const ok = await postFrom(t, '/api/v1/login', { user: 'dora', password: TEST_PASSWORD, otp: t.totp(secret) }, '127.0.0.1', { 'x-forwarded-for': '198.51.100.20' });
    assert.equal(ok.status, 200, 'another client behind the same proxy is not locked out');
    const success = await t.server.core.store.audit.list({ actor: 'dora', type: 'auth.password_totp' });
    assert.deepEqual(success.map((e) => [e.outcome, e.clientAddress]), [['denied', '198.51.100.66'], ['success', '198.51.100.20']]);

    // The ledger and the browser-login request (shown on the approval page) record the same client.
    const publicKey = formatPublicKey(publicKeyFromKeyObject(generateKeyPairSync('ed25519').publicKey), 'dora@laptop');
    const cert = await postFrom(t, '/api/v1/certificates', { public_key: publicKey }, '127.0.0.1', { 'x-forwarded-for': '198.51.100.20', authorization: `Bearer ${ok.json.token as string}` });
    assert.equal(cert.status, 201, JSON.stringify(cert.json));
    const [issued] = await t.server.core.store.certificates.listByUser((await t.server.core.store.users.byName('dora'))!.id);
    assert.equal(issued?.clientAddress, '198.51.100.20');
    const device = await postFrom(t, '/api/v1/device/authorize', { user: 'dora' }, '127.0.0.1', { 'x-forwarded-for': '2001:db8::0:7' });
    assert.equal(device.status, 200);
    const view = await t.server.browserLogin.logins.view(new URL(device.json.verification_uri_complete as string).pathname.split('/').pop()!);
    assert.equal(view?.clientAddress, '2001:db8::7');
  } finally {
    await t.stop();
  }
});
