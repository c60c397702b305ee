import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { ManualClock } from '../clock.ts';
import { AirlockError } from '../errors.ts';
import { createStore } from '../store/kysely-store.ts';
import { checkCidr, checkUserName, enrolUser, type EnrolmentInput } from './enrolment.ts';
import { LOW_COST_FOR_TESTS, verifyPassword } from './password.ts';
import { hashRecoveryCode } from './recovery.ts';
import { currentTotp, verifyTotp } from './totp.ts';

const T0 = Date.UTC(2025, 0, 6, 9, 0, 0);

async function refusal(p: Promise<unknown>): Promise<AirlockError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof AirlockError, `not an AirlockError: ${String(err)}`);
    return err;
  }
  assert.fail('accepted');
}

test('local user names: the portable Unix subset only (e-mail style names: user-names.test.ts)', () => {
  for (const ok of ['alice', 'a', '_svc', 'first.last', 'user-1', 'x'.repeat(32)]) assert.doesNotThrow(() => checkUserName(ok), ok);
  for (const bad of ['', 'Alice', '1alice', '-alice', 'alice,root', 'alice root', 'alice\n', 'x'.repeat(33), 'ali*ce', 'älice']) {
    assert.throws(() => checkUserName(bad), (e) => e instanceof AirlockError && e.code === 'bad_request' && /not a valid user name/.test(e.message), JSON.stringify(bad));
  }
});

test('CIDRs: addresses and networks of both families, with bounded prefixes', () => {
  for (const ok of ['192.0.2.0/24', '192.0.2.7', '0.0.0.0/0', '2001:db8::/48', '::1/128', '2001:db8::1']) assert.doesNotThrow(() => checkCidr(ok), ok);
  for (const bad of ['', '192.0.2.0/33', '2001:db8::/129', '192.0.2/24', 'example.org/24', '192.0.2.0/24/1', '192.0.2.0/', 'fe80::1%eth0/64', '192.0.2.0/-1', '10.0.0.0/8,0.0.0.0/0']) {
    assert.throws(() => checkCidr(bad), (e) => e instanceof AirlockError && e.code === 'bad_request', bad);
  }
});

test('enrolUser checks name, principals, networks and password policy before writing anything', async () => {
  const store = await createStore({ url: 'sqlite::memory:', dataDir: tmpdir() });
  const clock = new ManualClock(T0);
  try {
    const bad = async (input: Partial<EnrolmentInput>, pattern: RegExp): Promise<void> => {
      const err = await refusal(enrolUser(store, { name: 'carol', password: 'a perfectly fine password', email: null, isAdmin: false, ...input }, clock));
      assert.equal(err.code, 'bad_request');
      assert.match(err.message, pattern);
    };
    await bad({ password: 'short' }, /at least 12 characters/);
    await bad({ name: 'carol.smith.1', password: 'Carol.Smith.1' }, /must not be the user name/);
    await bad({ name: 'carol,root' }, /not a valid user name/);
    await bad({ name: 'Carol' }, /lower-case/);
    await bad({ extraPrincipals: ['ops', 'root,admin'] }, /not a valid principal/);
    await bad({ extraPrincipals: [''] }, /not a valid principal/);
    await bad({ sourceCidrs: ['10.0.0.0/8', 'anywhere'] }, /CIDR/);
    assert.deepEqual(await store.users.list(), []);
  } finally {
    await store.close();
  }
});

test('enrolUser accepts an e-mail style name and refuses the local name that would share its account', async () => {
  const store = await createStore({ url: 'sqlite::memory:', dataDir: tmpdir() });
  const clock = new ManualClock(T0);
  try {
    const input = { password: 'a perfectly fine password', email: null, isAdmin: false };
    const { user } = await enrolUser(store, { ...input, name: 'bob@uni.example' }, clock, { kdfCost: LOW_COST_FOR_TESTS });
    assert.equal(user.name, 'bob@uni.example');
    const err = await refusal(enrolUser(store, { ...input, name: 'bob_uni.example' }, clock));
    assert.equal(err.code, 'conflict');
    assert.match(err.message, /would both log in to targets as bob_uni\.example/);
    assert.deepEqual((await store.users.list()).map((u) => u.name), ['bob@uni.example']);
  } finally {
    await store.close();
  }
});

test('enrolUser stores the user with hashes only and hands back working factors once', async () => {
  const store = await createStore({ url: 'sqlite::memory:', dataDir: tmpdir() });
  const clock = new ManualClock(T0);
  try {
    const e = await enrolUser(
      store,
      {
        name: 'carol',
        email: 'c@example.org',
        isAdmin: true,
        password: 'a perfectly fine password',
        extraPrincipals: ['ops'],
        sourceCidrs: ['192.0.2.0/24'],
      },
      clock,
      { issuer: 'Airlock Lab', recoveryCodes: 8 },
    );
    const stored = (await store.users.byName('carol'))!;
    assert.equal(stored.id, e.user.id);
    assert.equal(stored.isAdmin, true);
    assert.equal(stored.disabled, false);
    assert.equal(stored.email, 'c@example.org');
    assert.deepEqual(stored.extraPrincipals, ['ops']);
    assert.deepEqual(stored.sourceCidrs, ['192.0.2.0/24']);
    assert.equal(stored.createdAt, T0);
    assert.match(stored.passwordHash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.ok(!stored.passwordHash.includes('perfectly'));
    assert.equal(await verifyPassword('a perfectly fine password', stored.passwordHash), true);
    assert.equal(stored.totpSecret, e.totpSecret);
    assert.equal(verifyTotp(e.totpSecret, currentTotp(e.totpSecret, T0), T0), Math.floor(T0 / 30_000));
    assert.ok(e.totpUri.startsWith('otpauth://totp/Airlock%20Lab:carol?'));
    assert.ok(e.totpUri.includes(`secret=${e.totpSecret}`));
    assert.equal(e.recoveryCodes.length, 8);
    assert.equal(new Set(e.recoveryCodes).size, 8);
    assert.equal(await store.recoveryCodes.remaining(e.user.id), 8);
    // Only hashes are stored: the plain code is no key, its hash is.
    assert.equal(await store.recoveryCodes.consume(e.user.id, e.recoveryCodes[0]!, T0), false);
    assert.equal(await store.recoveryCodes.consume(e.user.id, hashRecoveryCode(e.recoveryCodes[0]!), T0), true);

    const dup = await refusal(enrolUser(store, { name: 'carol', email: null, isAdmin: false, password: 'another fine password' }, clock));
    assert.equal(dup.code, 'conflict');
    const defaults = await enrolUser(store, { name: 'dave', email: null, isAdmin: false, password: 'another fine password' }, clock);
    assert.equal(defaults.recoveryCodes.length, 10);
    assert.ok(defaults.totpUri.startsWith('otpauth://totp/Airlock:dave?'));
    assert.deepEqual(defaults.user.extraPrincipals, []);
  } finally {
    await store.close();
  }
});
