/**
 * Scale-out on PostgreSQL: two `airlock serve` replicas share one database. A token from one works on
 * the other, the quota counts across both, a TOTP code used on one is refused on the other, and a
 * revocation through one shows in the KRL served by the other.
 */
import { test } from 'node:test';
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
