/**
 * Checklist item 15: any error on an authentication or authorisation path denies. Here the database
 * really fails (a table the flow needs is dropped underneath the running service): the sign-in with the
 * right credentials is denied and audited, and no certificate leaves the CA when the ledger cannot record it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { generateKeyPairSync } from 'node:crypto';
import { startTestServer, postJson, TEST_PASSWORD } from '../harness/in-process.ts';
import { publicKeyFromKeyObject, formatPublicKey } from '../../src/ssh/keys.ts';

function breakTable(dataDir: string, table: string): void {
  const db = new DatabaseSync(join(dataDir, 'airlock.db'));
  try {
    db.exec(`DROP TABLE ${table}`);
  } finally {
    db.close();
  }
}

test('a store failure during sign-in denies the right credentials and is audited', async () => {
  const t = await startTestServer();
  try {
    const { secret } = await t.addUser('alice');
    breakTable(t.dataDir, 'totp_used');
    const r = await postJson(`${t.url}/api/v1/login`, { user: 'alice', password: TEST_PASSWORD, otp: t.totp(secret) });
    assert.equal(r.status, 503, r.text);
    assert.equal((r.json.error as { code: string }).code, 'unavailable');
    assert.equal(r.json.token, undefined);
    const events = await t.server.core.store.audit.list({ actor: 'alice' });
    assert.equal(events.at(-1)?.outcome, 'failure');
    assert.equal(events.at(-1)?.details.reason, 'internal');
  } finally {
    await t.stop();
  }
});

test('no certificate is handed out when the ledger cannot record it', async () => {
  const t = await startTestServer();
  try {
    const { secret } = await t.addUser('alice');
    const login = await postJson(`${t.url}/api/v1/login`, { user: 'alice', password: TEST_PASSWORD, otp: t.totp(secret) });
    assert.equal(login.status, 200, login.text);
    breakTable(t.dataDir, 'certificates');
    const pub = publicKeyFromKeyObject(generateKeyPairSync('ed25519').publicKey);
    const r = await postJson(`${t.url}/api/v1/certificates`, { public_key: formatPublicKey(pub) }, login.json.token as string);
    assert.equal(r.status, 500);
    assert.doesNotMatch(r.text, /cert-v01|SQLITE|no such table/i, 'neither a certificate nor internals in the answer');
  } finally {
    await t.stop();
  }
});
