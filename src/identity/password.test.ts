import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isAirlockError } from '../errors.ts';
import {
  LOW_COST_FOR_TESTS,
  OWASP_COST,
  PASSWORD_MAX_LENGTH,
  checkPasswordPolicy,
  dummyVerify,
  hashPassword,
  needsRehash,
  passwordPolicyViolation,
  verifyPassword,
} from './password.ts';

// From the argon2 reference implementation (phc-winner-argon2, src/test.c): password "password",
// salt "somesalt", argon2id, m=65536, t=2, p=1, 32-byte tag.
const REFERENCE = '$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc';

/**
 * Milliseconds of CPU time `fn` costs this process (all threads, so the KDF on libuv's pool counts):
 * unlike wall-clock time it does not grow when other processes load the machine.
 */
async function cpuMs<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = process.cpuUsage();
  const result = await fn();
  const d = process.cpuUsage(start);
  return [result, (d.user + d.system) / 1000];
}

test('verifies the argon2 reference implementation vector (PHC encoding and KDF agree)', async () => {
  assert.equal(await verifyPassword('password', REFERENCE), true);
  assert.equal(await verifyPassword('passwore', REFERENCE), false);
});

test('hashes at OWASP cost by default into a PHC string that verifies', async () => {
  const pw = 'correct horse battery staple';
  const [phc, ms] = await cpuMs(() => hashPassword(pw));
  assert.match(phc, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
  // A real cost: 19 MiB of memory filled twice is never free. Logged so a slow machine is visible.
  console.log(`one OWASP-cost Argon2id hash took ${ms.toFixed(1)} ms of CPU`);
  assert.ok(ms > 5, `hash took only ${ms} ms of CPU; the KDF cost seems not applied`);
  assert.equal(await verifyPassword(pw, phc), true);
  assert.equal(await verifyPassword(pw + ' ', phc), false);
  assert.equal(await verifyPassword('', phc), false);
  assert.equal(needsRehash(phc), false);
});

test('uses a fresh salt for every hash', async () => {
  const a = await hashPassword('the same password', { cost: LOW_COST_FOR_TESTS });
  const b = await hashPassword('the same password', { cost: LOW_COST_FOR_TESTS });
  assert.notEqual(a, b);
  assert.notEqual(a.split('$')[4], b.split('$')[4]);
});

test('the low-cost profile is explicit, records its parameters and is flagged for rehash', async () => {
  const phc = await hashPassword('a test password', { cost: LOW_COST_FOR_TESTS });
  assert.ok(phc.startsWith(`$argon2id$v=19$m=${LOW_COST_FOR_TESTS.memoryKiB},t=${LOW_COST_FOR_TESTS.passes},p=1$`));
  assert.equal(await verifyPassword('a test password', phc), true);
  assert.equal(needsRehash(phc), true);
  assert.equal(needsRehash(phc, LOW_COST_FOR_TESTS), false);
  assert.equal(OWASP_COST.memoryKiB, 19456);
});

test('normalises Unicode (NFKC) so composed and decomposed forms match', async () => {
  const composed = 'caf\u00e9 au lait please';
  const decomposed = 'cafe\u0301 au lait please';
  const phc = await hashPassword(composed, { cost: LOW_COST_FOR_TESTS });
  assert.equal(await verifyPassword(decomposed, phc), true);
});

test('malformed or out-of-bounds hashes yield false, never an exception', async () => {
  const good = await hashPassword('a test password', { cost: LOW_COST_FOR_TESTS });
  const [, , v, params, salt, hash] = good.split('$');
  const bad = [
    '',
    'plaintext',
    good.replace('$argon2id$', '$argon2i$'),
    good.replace('v=19', 'v=16'),
    `$argon2id$${v}$m=1024,t=1$${salt}$${hash}`, // missing p
    `$argon2id$${v}$m=999999999,t=1,p=1$${salt}$${hash}`, // memory bomb
    `$argon2id$${v}$m=1024,t=1000,p=1$${salt}$${hash}`, // time bomb
    `$argon2id$${v}$m=1024,t=0,p=1$${salt}$${hash}`,
    `$argon2id$${v}$${params}$${salt}==$${hash}`, // padding is not PHC
    `$argon2id$${v}$${params}$c29t$${hash}`, // salt under 8 bytes
    `$argon2id$${v}$${params}$${salt}$AAAA`, // tag under 16 bytes
    `$argon2id$${v}$${params}$${salt}$${hash}$extra`,
    `$argon2id$${v}$${params}$${salt}$${hash!.slice(0, -1)}`, // non-canonical length
    `$argon2id$${v}$${params}$${salt}$${hash}\n`,
  ];
  for (const phc of bad) {
    assert.equal(await verifyPassword('a test password', phc), false, phc);
  }
});

test('property: arbitrary stored strings never throw', async () => {
  await fc.assert(
    fc.asyncProperty(fc.string({ maxLength: 120 }), async (s) => {
      assert.equal(await verifyPassword('a test password', s), false);
      assert.equal(await verifyPassword('a test password', `$argon2id$v=19$m=1024,t=1,p=1$${s}`), false);
    }),
    { numRuns: 200 },
  );
});

test('over-long passwords are refused by hashPassword and never verify', async () => {
  const long = 'x'.repeat(PASSWORD_MAX_LENGTH + 1);
  await assert.rejects(hashPassword(long, { cost: LOW_COST_FOR_TESTS }), (e) => isAirlockError(e, 'bad_request'));
  const max = 'x'.repeat(PASSWORD_MAX_LENGTH);
  const phc = await hashPassword(max, { cost: LOW_COST_FOR_TESTS });
  assert.equal(await verifyPassword(max, phc), true);
  assert.equal(await verifyPassword(long, phc), false);
  // Refused before the KDF, however long.
  const huge = 'x'.repeat(10_000_000);
  const [verified, ms] = await cpuMs(async () => verifyPassword(huge, phc));
  assert.equal(verified, false);
  assert.match(passwordPolicyViolation(huge)!, /too long/);
  assert.ok(ms < 1000, `verifying a 10 MB password took ${ms} ms of CPU`);
});

test('dummyVerify runs the KDF at production cost and is always false', async () => {
  const phc = await hashPassword('correct horse battery staple');
  // Warm up once, then compare the cheapest of a few interleaved runs, in CPU time (which load from
  // other processes does not inflate): the minimum is the best estimate of the work each does.
  await verifyPassword('warm up the pool', phc);
  const reals: number[] = [];
  const dummies: number[] = [];
  for (let i = 0; i < 4; i++) {
    reals.push((await cpuMs(() => verifyPassword('not the password!', phc)))[1]);
    dummies.push((await cpuMs(() => dummyVerify('not the password!')))[1]);
  }
  const real = Math.min(...reals);
  const dummy = Math.min(...dummies);
  assert.equal(await dummyVerify('correct horse battery staple'), false);
  assert.ok(dummy >= real * 0.5, `dummy verify ${dummy} ms vs real ${real} ms of CPU`);
  assert.ok(dummy <= real * 2, `dummy verify ${dummy} ms vs real ${real} ms of CPU`);
});

test('password policy: length bounds, not the user name, clear messages', () => {
  assert.match(passwordPolicyViolation('short', 'alice')!, /at least 12 characters/);
  assert.match(passwordPolicyViolation('x'.repeat(1025), 'alice')!, /at most 1024 characters/);
  assert.match(passwordPolicyViolation('alice.smith.1', 'Alice.Smith.1')!, /must not be the user name/);
  assert.equal(passwordPolicyViolation('twelve chars', 'alice'), undefined);
  assert.equal(passwordPolicyViolation('x'.repeat(1024)), undefined);
  // Length counts characters, not UTF-16 units: 11 emoji are 22 units but still too short.
  assert.match(passwordPolicyViolation('\u{1F511}'.repeat(11))!, /too short/);
  assert.equal(passwordPolicyViolation('\u{1F511}'.repeat(12)), undefined);
  assert.throws(() => checkPasswordPolicy('short'), (e) => isAirlockError(e, 'bad_request') && /at least 12/.test(e.message));
  assert.doesNotThrow(() => checkPasswordPolicy('a long enough passphrase', 'alice'));
});

test('an unusable hash (a service account) costs a KDF run like a real one', async () => {
  const real = await hashPassword('a perfectly fine password');
  // CPU time, cheapest of a few runs: load from other processes inflates neither side.
  const time = async (phc: string) => {
    const [ok, ms] = await cpuMs(() => verifyPassword('some guess at a password', phc));
    assert.equal(ok, false);
    return ms;
  };
  await time(real);
  const realMs = Math.min(await time(real), await time(real), await time(real));
  const unusableMs = Math.min(await time('!service-account'), await time('!service-account'), await time('!service-account'));
  assert.ok(unusableMs > 0.5 * realMs, `unusable ${unusableMs.toFixed(1)} ms vs real ${realMs.toFixed(1)} ms of CPU`);
});
