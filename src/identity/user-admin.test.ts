/** The user-administration service on a real store: one implementation behind CLI and web pages, every action audited. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config.ts';
import { openCore } from '../server.ts';
import { parsePublicKey, formatPublicKey, publicKeyFromKeyObject } from '../ssh/keys.ts';
import { generateKeyPairSync } from 'node:crypto';
import { currentTotp } from './totp.ts';

const ops = { name: 'ops', clientAddress: '127.0.0.5' };

test('UserAdmin: add, search, disable (tokens, certificates), enable, reset TOTP, admin role — each audited', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-useradmin-'));
  const core = await openCore(loadConfig({ env: {}, flags: { data_dir: join(dir, 'data') } }), { log: null });
  try {
    const admin = core.userAdmin;
    const enrolment = await admin.add({ name: 'alice', email: 'alice@example.org', admin: false, password: 'a long enough password 1' }, ops);
    assert.match(enrolment.totpUri, /^otpauth:\/\/totp\//);
    assert.equal(enrolment.recoveryCodes.length, 10);
    await admin.add({ name: 'bob', email: null, admin: false, password: 'a long enough password 2' }, ops);
    assert.deepEqual((await admin.list('ALICE@')).map((u) => u.name), ['alice']);
    assert.deepEqual((await admin.list()).map((u) => u.name).sort(), ['alice', 'bob']);

    const alice = (await core.store.users.byName('alice'))!;
    const { token } = await core.tokens.issue(alice, { kind: 'session', ttlMs: 60_000 });
    const { privateKey } = generateKeyPairSync('ed25519');
    const issued = await core.ca.issueUserCertificate({ user: alice, publicKey: parsePublicKey(formatPublicKey(publicKeyFromKeyObject(privateKey), 'k')), method: 'admin', clientAddress: null });

    const revoked = await admin.disable('alice', ops);
    assert.deepEqual(revoked, [issued.serial]);
    assert.equal((await core.store.users.byName('alice'))!.disabled, true);
    await assert.rejects(core.tokens.authenticate(token), 'the token no longer works');
    assert.notEqual((await core.store.certificates.bySerial(issued.serial))!.revokedAt, null);
    await admin.enable('alice', ops);
    assert.equal((await core.store.users.byName('alice'))!.disabled, false);

    const reset = await admin.resetTotp('alice', ops);
    assert.notEqual(reset.totpUri, enrolment.totpUri);
    const secret = new URL(reset.totpUri).searchParams.get('secret')!;
    assert.equal((await core.store.users.byName('alice'))!.totpSecret, secret);
    assert.ok(currentTotp(secret, Date.now()).length === 6);

    await admin.setAdmin('alice', true, ops);
    assert.equal((await core.store.users.byName('alice'))!.isAdmin, true);
    await assert.rejects(admin.setAdmin('alice', false, { name: 'alice', clientAddress: null }), /your own admin role/);
    await admin.setAdmin('alice', false, ops);
    assert.equal((await core.store.users.byName('alice'))!.isAdmin, false);
    await assert.rejects(admin.disable('nobody', ops), /No user named "nobody"/);

    const types = (await core.store.audit.list({ since: 0 })).filter((e) => e.type.startsWith('admin.')).map((e) => `${e.type}:${e.actor}`);
    assert.deepEqual(types, [
      'admin.user_add:ops', 'admin.user_add:ops', 'admin.user_disable:ops', 'admin.user_enable:ops', 'admin.user_totp_reset:ops',
      'admin.user_grant_admin:ops', 'admin.user_revoke_admin:ops',
    ]);
  } finally {
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
