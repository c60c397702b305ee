/**
 * Attacks on the researcher portal pages over HTTP against the real composition root: one person's
 * certificate or key acted on by another (IDOR), signed-out and forged requests, an open redirect
 * through `next`, markup in a key comment (stored XSS), and the CSP of every page.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { ManualClock } from '../../src/clock.ts';
import { formatPublicKey, publicKeyFromKeyObject } from '../../src/ssh/keys.ts';
import { startTestServer, TEST_PASSWORD, type TestServer } from '../harness/in-process.ts';
import { WebClient } from '../harness/web-client.ts';

let srv: TestServer;
let clock: ManualClock;
const secrets: Record<string, string> = {};

before(async () => {
  clock = new ManualClock(Date.UTC(2026, 0, 5, 9, 0, 0));
  srv = await startTestServer({ clock });
  for (const name of ['alice', 'mallory']) secrets[name] = (await srv.addUser(name)).secret;
});
after(async () => srv?.stop());

async function signedIn(name: string, next = '/'): Promise<WebClient> {
  clock.advance(30_000); // a fresh TOTP step: a code is accepted once (RFC 6238 §5.2)
  const b = new WebClient(srv.url);
  await b.get('/login');
  const res = await b.post('/login/password', { next, user: name, password: TEST_PASSWORD, otp: srv.totp(secrets[name]!) });
  assert.equal(res.status, 303, res.text);
  return b;
}

const newKeyLine = (comment: string) => formatPublicKey(publicKeyFromKeyObject(generateKeyPairSync('ed25519').privateKey), comment);

test('another person\'s certificate can be neither shown for revocation nor revoked, and reads like an unknown serial', async () => {
  const alice = await signedIn('alice');
  const res = await alice.post('/certificate', { public_key: newKeyLine('a') });
  assert.equal(res.status, 201, res.text);
  const serial = (await srv.server.core.store.certificates.listByUser((await srv.server.core.store.users.byName('alice'))!.id))[0]!.serial.toString();
  const mallory = await signedIn('mallory');
  const confirm = await mallory.get(`/certificates/revoke?serial=${serial}`);
  const unknown = await mallory.get('/certificates/revoke?serial=12345');
  assert.equal(confirm.status, 404);
  assert.equal(unknown.status, 404);
  assert.equal(confirm.text.replace(serial, ''), unknown.text.replace('12345', ''));
  const post = await mallory.post('/certificates/revoke', { serial });
  assert.equal(post.status, 404);
  assert.equal((await srv.server.core.store.certificates.bySerial(BigInt(serial)))?.revokedAt, null, 'still valid');
  // mallory's revoke-all touches only mallory's.
  await mallory.post('/certificates/revoke-all', {});
  assert.equal((await srv.server.core.store.certificates.bySerial(BigInt(serial)))?.revokedAt, null);
});

test('another person\'s key cannot be deleted', async () => {
  const alice = await signedIn('alice');
  const line = newKeyLine('laptop');
  assert.equal((await alice.post('/keys', { public_key: line })).status, 303);
  const aliceId = (await srv.server.core.store.users.byName('alice'))!.id;
  const fp = (await srv.server.core.keyRegistry.listForUser(aliceId))[0]!.fingerprint;
  const mallory = await signedIn('mallory');
  const res = await mallory.post('/keys/delete', { fingerprint: fp });
  assert.equal(res.status, 404);
  assert.equal((await srv.server.core.keyRegistry.listForUser(aliceId)).length, 1);
});

test('signed out: pages send to sign-in, actions are refused; a forged or cross-site POST is refused', async () => {
  const anon = new WebClient(srv.url);
  for (const path of ['/', '/keys', '/certificates', '/certificate', '/targets', '/trust', '/account']) {
    const r = await anon.get(path);
    assert.equal(r.status, 303, path);
    assert.equal(r.location, `/login?next=${encodeURIComponent(path)}`);
  }
  await anon.get('/login');
  assert.equal((await anon.post('/certificates/revoke-all', {})).status, 401);
  const alice = await signedIn('alice');
  const before = (await srv.server.core.store.certificates.listByUser((await srv.server.core.store.users.byName('alice'))!.id)).length;
  const forged = await fetch(`${srv.url}/certificate`, {
    method: 'POST', redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: [...alice.cookies].map(([k, v]) => `${k}=${v}`).join('; '), origin: 'https://evil.example' },
    body: new URLSearchParams({ csrf: alice.cookies.get('__Host-airlock_csrf')!, public_key: newKeyLine('x') }).toString(),
  });
  assert.equal(forged.status, 403);
  const noToken = await fetch(`${srv.url}/account/sign-out-everywhere`, {
    method: 'POST', redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: [...alice.cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
    body: '',
  });
  assert.equal(noToken.status, 403);
  assert.equal((await srv.server.core.store.certificates.listByUser((await srv.server.core.store.users.byName('alice'))!.id)).length, before);
  assert.equal((await alice.get('/account')).status, 200, 'still signed in');
});

test('next never leaves the site: only local portal paths are followed after sign-in', async () => {
  for (const next of ['//evil.example/', 'https://evil.example/', '/\\evil.example', '/keys?x=https://evil.example', '/%2F%2Fevil.example']) {
    clock.advance(30_000);
    const b = new WebClient(srv.url);
    await b.get('/login');
    const res = await b.post('/login/password', { next, user: 'alice', password: TEST_PASSWORD, otp: srv.totp(secrets.alice!) });
    assert.equal(res.status, 303);
    assert.equal(res.location, '/', next);
  }
  const ok = await signedIn('alice', '/keys');
  assert.ok(ok);
});

test('markup in a key comment is shown as text, and every page forbids inline script and style', async () => {
  const alice = await signedIn('alice');
  assert.equal((await alice.post('/keys', { public_key: newKeyLine('<img src=x onerror=alert(1)>') })).status, 303);
  const keys = await alice.get('/keys');
  assert.ok(!keys.text.includes('<img src=x'), 'the comment is escaped');
  assert.ok(keys.text.includes('&lt;img src=x onerror=alert(1)&gt;'));
  for (const path of ['/', '/keys', '/certificates', '/certificate', '/targets', '/trust', '/account', '/login']) {
    const res = await fetch(srv.url + path, { headers: { cookie: [...alice.cookies].map(([k, v]) => `${k}=${v}`).join('; ') } });
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/, path);
    assert.match(csp, /script-src 'self'/, path);
    assert.match(csp, /frame-ancestors 'none'/, path);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, path);
    assert.equal(res.headers.get('cache-control'), 'no-store', path);
    const body = await res.text();
    assert.doesNotMatch(body, /<style|style="|<script>/, `${path} has no inline style or script`);
  }
});
