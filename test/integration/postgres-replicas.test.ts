/**
 * Scale-out on PostgreSQL: two `airlock serve` replicas share one database. A token from one works on
 * the other, the quota counts across both, a TOTP code used on one is refused on the other, and a
 * revocation through one shows in the KRL served by the other.
 */
import { test } from 'node:test';
import { performance } from 'node:perf_hooks';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { POSTGRES_SKIP_REASON } from '../harness/postgres.ts';
import { postJson, TEST_PASSWORD } from '../harness/in-process.ts';
import { startServerReplicas } from '../harness/replicas.ts';
import { publicKeyFromKeyObject, formatPublicKey } from '../../src/ssh/keys.ts';
import { parseKrl } from '../../src/ssh/krl.ts';
import { parseCertificate } from '../../src/ssh/certificate.ts';

test('two replicas on one PostgreSQL database act as one service', { skip: POSTGRES_SKIP_REASON }, async () => {
  const replicas = await startServerReplicas({ AIRLOCK_CERT_DAILY_LIMIT: '3' });
  const { a, b } = replicas;
  try {
    const { secret } = await a.addUser('alice');
    const code = a.totp(secret);
    const login = await postJson(`${a.url}/api/v1/login`, { user: 'alice', password: TEST_PASSWORD, otp: code });
    assert.equal(login.status, 200, login.text);
    const replay = await postJson(`${b.url}/api/v1/login`, { user: 'alice', password: TEST_PASSWORD, otp: code });
    assert.equal(replay.status, 401, 'the code used on replica A is refused on replica B');

    const token = login.json.token as string;
    const issue = (url: string) => postJson(`${url}/api/v1/certificates`, { public_key: formatPublicKey(publicKeyFromKeyObject(generateKeyPairSync('ed25519').publicKey)) }, token);
    const first = await issue(b.url);
    assert.equal(first.status, 201, first.text);
    assert.ok(parseCertificate(first.json.certificate as string).signatureKey.blob.equals(a.server.core.ca.userCaKey.blob), 'both replicas sign with the one CA');
    assert.equal((await issue(a.url)).status, 201);
    assert.equal((await issue(b.url)).status, 201);
    assert.equal((await issue(a.url)).status, 429, 'the quota counts certificates from both replicas');

    const serial = first.json.serial as string;
    const del = await fetch(`${a.url}/api/v1/certificates/${serial}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
    assert.equal(del.status, 200);
    const krl = parseKrl(Buffer.from(await (await fetch(`${b.url}/api/v1/krl`)).arrayBuffer()));
    const serials = krl.certificates.filter((c) => c.caKey?.equals(a.server.core.ca.userCaKey.blob)).flatMap((c) => c.serials);
    assert.ok(serials.includes(BigInt(serial)), 'replica B serves the revocation made on replica A');
  } finally {
    await replicas.stop();
  }
});

test('a sign-out or a disabled user on one replica is refused on the other within a second, though token lookups are cached', { skip: POSTGRES_SKIP_REASON }, async () => {
  const replicas = await startServerReplicas({});
  const { a, b } = replicas;
  try {
    const { secret } = await a.addUser('carol');
    const me = async (url: string, token: string): Promise<number> => (await fetch(`${url}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } })).status;
    /** Asks replica B until it refuses (bounded); the milliseconds that took. */
    const refusedOnB = async (token: string, start: number): Promise<number> => {
      for (let i = 0; i < 400; i++) {
        if ((await me(b.url, token)) === 401) return performance.now() - start;
        await new Promise((r) => setTimeout(r, 5));
      }
      return Infinity;
    };

    const login = await postJson(`${a.url}/api/v1/login`, { user: 'carol', password: TEST_PASSWORD, otp: a.totp(secret) });
    assert.equal(login.status, 200, login.text);
    const token = login.json.token as string;
    assert.equal(await me(b.url, token), 200);
    assert.equal(await me(b.url, token), 200, 'replica B has the lookup cached');
    let start = performance.now();
    const out = await fetch(`${a.url}/api/v1/logout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    assert.equal(out.status, 204);
    assert.equal(await me(a.url, token), 401, 'refused at once on the replica that signed out');
    const afterSignOut = await refusedOnB(token, start);
    assert.ok(afterSignOut < 1000, `replica B refused the signed-out token after ${afterSignOut} ms`);

    // A second session without a second sign-in (TOTP codes are single-use within their step).
    const carol = await a.server.core.store.users.byName('carol');
    assert.ok(carol);
    const second = (await a.server.core.tokens.issue(carol, { kind: 'session', ttlMs: 3_600_000 })).token;
    assert.equal(await me(a.url, second), 200);
    assert.equal(await me(b.url, second), 200);
    start = performance.now();
    await a.server.core.store.users.setDisabled('carol', true);
    assert.equal(await me(a.url, second), 401, 'refused at once on the replica that disabled the user');
    const afterDisable = await refusedOnB(second, start);
    assert.ok(afterDisable < 1000, `replica B refused the disabled user's token after ${afterDisable} ms`);
  } finally {
    await replicas.stop();
  }
});
