/** The key registry against the real store (in-memory SQLite), with ssh-keygen as the oracle. */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuditor } from '../audit/auditor.ts';
import { ManualClock } from '../clock.ts';
import { isAirlockError } from '../errors.ts';
import { formatPublicKey, publicKeyFromKeyObject } from '../ssh/keys.ts';
import { createStore } from '../store/kysely-store.ts';
import type { Store, User } from '../store/repositories.ts';
import { Inventory } from './inventory.ts';
import { KeyRegistry, MAX_KEYS_PER_USER } from './key-registry.ts';
import type { Actor } from './ports.ts';

const START = 1_750_000_000_000;

function sshKeygen(args: string[]): string {
  const r = spawnSync('ssh-keygen', args, { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

const ed25519Line = (comment: string) => formatPublicKey(publicKeyFromKeyObject(generateKeyPairSync('ed25519').privateKey), comment);
const rsaLine = (bits: number) => formatPublicKey(publicKeyFromKeyObject(generateKeyPairSync('rsa', { modulusLength: bits }).privateKey), `rsa${bits}`);

describe('KeyRegistry', () => {
  let store: Store;
  let dir: string;
  let keys: KeyRegistry;
  let inventory: Inventory;
  let alice: User;
  let bob: User;
  let aliceActor: Actor;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'airlock-keys-'));
    store = await createStore({ url: 'sqlite::memory:', dataDir: dir });
    const clock = new ManualClock(START);
    const audit = createAuditor({ repository: store.audit, clock, log: null });
    keys = new KeyRegistry({ store, clock, audit });
    inventory = new Inventory({ store, clock, audit });
    const newUser = (name: string) => store.users.create({ name, email: null, isAdmin: false, passwordHash: 'x', totpSecret: null }, START);
    alice = await newUser('alice');
    bob = await newUser('bob');
    aliceActor = { name: 'alice', clientAddress: '127.0.0.1' };
  });
  after(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a key made by ssh-keygen is stored with the fingerprint, type and size ssh-keygen reports', async () => {
    const file = join(dir, 'id_ecdsa');
    sshKeygen(['-q', '-t', 'ecdsa', '-b', '384', '-N', '', '-C', 'alice@laptop', '-f', file]);
    const line = readFileSync(`${file}.pub`, 'utf8');
    const key = await keys.add(alice, line, aliceActor);
    const [bits, fingerprint] = sshKeygen(['-l', '-E', 'sha256', '-f', `${file}.pub`]).split(' ');
    assert.equal(key.fingerprint, fingerprint);
    assert.equal(key.bits, Number(bits));
    assert.equal(key.type, 'ecdsa-sha2-nistp384');
    assert.equal(key.comment, 'alice@laptop');
    assert.equal(key.publicKey, line.trim());
    assert.equal(key.userName, 'alice');
    assert.deepEqual(await keys.findForUser(alice.id, key.fingerprint), key);
    assert.equal(await keys.findForUser(bob.id, key.fingerprint), undefined);
    const [event] = await store.audit.list({ type: 'inventory.key_add' });
    assert.deepEqual([event!.actor, event!.details.fingerprint], ['alice', fingerprint]);
  });

  test('DSA, RSA below 2048 bits, certificates, private keys and junk are refused', async () => {
    await assert.rejects(keys.add(alice, rsaLine(1024), aliceActor), (err) => isAirlockError(err, 'weak_key'));
    await assert.rejects(keys.add(alice, 'ssh-dss AAAAB3NzaC1kc3MAAACBAP1 dsa', aliceActor), (err) => isAirlockError(err, 'weak_key'));
    await assert.rejects(keys.add(alice, 'ssh-ed25519-cert-v01@openssh.com AAAA x', aliceActor), (err) => isAirlockError(err, 'invalid_key'));
    await assert.rejects(keys.add(alice, '-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----', aliceActor), (err) => isAirlockError(err, 'invalid_key'));
    await assert.rejects(keys.add(alice, `command="sh" ${ed25519Line('x')}`, aliceActor), (err) => isAirlockError(err, 'invalid_key'));
    await assert.rejects(keys.add(alice, 'not a key', aliceActor), (err) => isAirlockError(err, 'invalid_key'));
    await assert.rejects(keys.add(alice, ed25519Line('c'.repeat(201)), aliceActor), (err) => isAirlockError(err, 'invalid_key'));
    const ok = await keys.add(alice, rsaLine(2048), aliceActor);
    assert.equal(ok.bits, 2048);
  });

  test('the same key twice is a conflict for one user, but two users may share a key', async () => {
    const line = ed25519Line('shared');
    await keys.add(alice, line, aliceActor);
    await assert.rejects(keys.add(alice, line.replace('shared', 'other comment'), aliceActor), (err) => isAirlockError(err, 'conflict'));
    await keys.add(bob, line, { name: 'bob', clientAddress: null });
    assert.deepEqual((await keys.listForUser(alice.id)).map((k) => k.type).sort(), ['ecdsa-sha2-nistp384', 'ssh-ed25519', 'ssh-rsa']);
    assert.equal((await keys.listForUser(bob.id)).length, 1);
  });

  test('remove takes the fingerprint; another user’s key or a malformed fingerprint is not removed', async () => {
    // A key only alice holds (bob shares her ed25519 key, and all keys have one creation time here, so list order is no guide).
    const first = (await keys.listForUser(alice.id)).find((k) => k.type === 'ssh-rsa');
    await assert.rejects(keys.remove(bob, first!.fingerprint, { name: 'bob', clientAddress: null }), (err) => isAirlockError(err, 'not_found'));
    await assert.rejects(keys.remove(alice, 'MD5:aa:bb', aliceActor), (err) => isAirlockError(err, 'bad_request'));
    const removed = await keys.remove(alice, first!.fingerprint, aliceActor);
    assert.equal(removed.fingerprint, first!.fingerprint);
    await assert.rejects(keys.remove(alice, first!.fingerprint, aliceActor), (err) => isAirlockError(err, 'not_found'));
    assert.equal((await keys.listForUser(alice.id)).length, 2);
    assert.equal((await store.audit.list({ type: 'inventory.key_remove' })).length, 1);
  });

  test(`a user may hold at most ${MAX_KEYS_PER_USER} keys`, async () => {
    const carol = await store.users.create({ name: 'carol', email: null, isAdmin: false, passwordHash: 'x', totpSecret: null }, START);
    const actor = { name: 'carol', clientAddress: null };
    for (let i = 0; i < MAX_KEYS_PER_USER; i++) await keys.add(carol, ed25519Line(`k${i}`), actor);
    await assert.rejects(keys.add(carol, ed25519Line('one too many'), actor), (err) => isAirlockError(err, 'quota_exceeded'));
    await store.users.setDisabled('carol', true);
  });

  test('project export: authorized_keys lines name their user and ssh-keygen reads every one', async () => {
    const project = await inventory.addProject('genomics', { name: 'admin-cli', clientAddress: null });
    const admin = { name: 'admin-cli', clientAddress: null };
    await inventory.addMember('genomics', 'alice', 'member', admin);
    await inventory.addMember('genomics', 'bob', 'member', admin);
    await inventory.addMember('genomics', 'carol', 'member', admin); // disabled: left out
    const text = await keys.authorizedKeys(project);
    const lines = text.trimEnd().split('\n');
    assert.equal(lines[0], '# Airlock: public keys of the members of project genomics');
    assert.deepEqual(lines.slice(1).map((l) => l.split(' ')[2]), ['airlock:alice', 'airlock:alice', 'airlock:bob']);
    const file = join(dir, 'authorized_keys');
    writeFileSync(file, text);
    const listed = sshKeygen(['-l', '-E', 'sha256', '-f', file]).trim().split('\n');
    const expected = (await keys.projectKeys(project.id)).map((k) => k.fingerprint);
    assert.deepEqual(listed.map((l) => l.split(' ')[1]), expected);
  });

  test('project export as cloud-init user data: a #cloud-config list of quoted key lines', async () => {
    const project = await inventory.project('genomics');
    const text = await keys.cloudInit(project);
    const lines = text.trimEnd().split('\n');
    assert.equal(lines[0], '#cloud-config');
    assert.equal(lines[2], 'ssh_authorized_keys:');
    const entries = lines.slice(3).map((l) => {
      assert.match(l, /^ {2}- "/);
      return JSON.parse(l.slice(4)) as string;
    });
    assert.deepEqual(entries, (await keys.authorizedKeys(project)).trimEnd().split('\n').slice(1));
    const empty = await inventory.addProject('empty', { name: 'admin-cli', clientAddress: null });
    assert.equal(await keys.cloudInit(empty), '#cloud-config\n# Airlock: public keys of the members of project empty\nssh_authorized_keys: []\n');
  });

  test('the SSH2 public key file PuTTYgen saves (RFC 4716, pasted in the web app) is stored as its OpenSSH line', async () => {
    const ppk = join(dir, 'pg.ppk');
    const r = spawnSync('puttygen', ['-t', 'ed25519', '-C', 'pg@laptop', '-o', ppk, '-q', '--new-passphrase', '/dev/null']);
    assert.equal(r.status, 0, String(r.stderr));
    assert.equal(spawnSync('puttygen', [ppk, '-O', 'public', '-o', `${ppk}.pub`]).status, 0);
    const key = await keys.add(bob, readFileSync(`${ppk}.pub`, 'utf8'), { name: 'bob', clientAddress: '127.0.0.1' });
    assert.equal(key.publicKey, spawnSync('puttygen', [ppk, '-L'], { encoding: 'utf8' }).stdout.trim());
    assert.equal(key.fingerprint, spawnSync('puttygen', [ppk, '-l', '-E', 'sha256'], { encoding: 'utf8' }).stdout.trim().split(/\s+/)[2]);
    await keys.remove(bob, key.fingerprint, { name: 'bob', clientAddress: '127.0.0.1' });
  });
});
