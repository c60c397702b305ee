import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import fc from 'fast-check';
import { createStore } from '../store/kysely-store.ts';
import {
  RECOVERY_CODE_BITS,
  consumeRecoveryCode,
  resetRecoveryCodes,
  generateRecoveryCodes,
  hashRecoveryCode,
  looksLikeRecoveryCode,
  normaliseRecoveryCode,
} from './recovery.ts';

test('codes are xxxx-xxxx-xxxx-xxxx over an unambiguous alphabet, at least 60 bits, distinct', () => {
  assert.ok(RECOVERY_CODE_BITS >= 60);
  const codes = generateRecoveryCodes();
  assert.equal(codes.length, 10);
  for (const c of codes) {
    assert.match(c, /^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){3}$/);
    assert.ok(!/[ilou]/.test(c));
  }
  assert.equal(new Set(generateRecoveryCodes(100)).size, 100);
  assert.equal(generateRecoveryCodes(3).length, 3);
  assert.throws(() => generateRecoveryCodes(0), RangeError);
});

test('symbols are uniformly distributed (no modulo bias)', () => {
  const counts = new Map<string, number>();
  for (const code of generateRecoveryCodes(100)) {
    for (const c of code.replace(/-/g, '')) counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  // 1600 symbols over 32 values: 50 expected each; a chi-square with 31 degrees of freedom above
  // 80 has probability below 10^-5.
  assert.equal(counts.size, 32);
  let chi = 0;
  for (const n of counts.values()) chi += (n - 50) ** 2 / 50;
  assert.ok(chi < 80, `chi-square ${chi}`);
});

test('hashing is SHA-256 hex of the normalised code; typing variations hash the same', () => {
  const [code] = generateRecoveryCodes(1);
  const canonical = code!.replace(/-/g, '');
  assert.equal(hashRecoveryCode(code!), createHash('sha256').update(canonical).digest('hex'));
  assert.match(hashRecoveryCode(code!), /^[0-9a-f]{64}$/);
  assert.equal(hashRecoveryCode(code!.toUpperCase()), hashRecoveryCode(code!));
  assert.equal(hashRecoveryCode(` ${canonical.match(/.{4}/g)!.join(' ')} `), hashRecoveryCode(code!));
  assert.equal(hashRecoveryCode('0000-1111-0000-1111'), hashRecoveryCode('OOOO-IlIl-oooo-LiLi'));
  assert.notEqual(hashRecoveryCode('0000-1111-0000-1111'), hashRecoveryCode('0000-1111-0000-1112'));
});

test('normalisation refuses what cannot be a code', () => {
  for (const bad of ['', '123456', 'abcd-efgh-jkmn', 'abcd-efgh-jkmn-pqrs-t', 'uuuu-uuuu-uuuu-uuuu', 'abcd-efgh-jkmn-pqr!']) {
    assert.equal(normaliseRecoveryCode(bad), undefined, bad);
    assert.equal(looksLikeRecoveryCode(bad), false, bad);
  }
  assert.equal(normaliseRecoveryCode('ABCD-EFGH-JKMN-PQRS'), 'abcdefghjkmnpqrs');
});

test('property: every generated code normalises to itself without dashes', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 20 }), (n) => {
      for (const code of generateRecoveryCodes(n)) {
        assert.equal(normaliseRecoveryCode(code), code.replace(/-/g, ''));
      }
    }),
    { numRuns: 50 },
  );
});

test('reset and consume over the real store: each code once, only for its user, typed any way', async () => {
  const store = await createStore({ url: 'sqlite::memory:', dataDir: tmpdir() });
  try {
    const hash = '$argon2id$v=19$m=1024,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc';
    const alice = await store.users.create({ name: 'alice', email: null, isAdmin: false, passwordHash: hash, totpSecret: null }, 0);
    const bob = await store.users.create({ name: 'bob', email: null, isAdmin: false, passwordHash: hash, totpSecret: null }, 0);
    const codes = await resetRecoveryCodes(store.recoveryCodes, alice.id);
    const bobCodes = await resetRecoveryCodes(store.recoveryCodes, bob.id, 2);
    assert.equal(codes.length, 10);
    assert.equal(await store.recoveryCodes.remaining(alice.id), 10);
    assert.equal(await consumeRecoveryCode(store.recoveryCodes, alice.id, bobCodes[0]!, 1), false);
    assert.equal(await consumeRecoveryCode(store.recoveryCodes, alice.id, 'not a code', 1), false);
    assert.equal(await consumeRecoveryCode(store.recoveryCodes, alice.id, codes[0]!.toUpperCase(), 1), true);
    assert.equal(await consumeRecoveryCode(store.recoveryCodes, alice.id, codes[0]!, 2), false);
    assert.equal(await store.recoveryCodes.remaining(alice.id), 9);
    // Concurrent use of one code: exactly one wins.
    const wins = await Promise.all([1, 2, 3, 4].map(() => consumeRecoveryCode(store.recoveryCodes, alice.id, codes[1]!, 3)));
    assert.equal(wins.filter(Boolean).length, 1);
    // A reset invalidates every old code.
    const fresh = await resetRecoveryCodes(store.recoveryCodes, alice.id, 3);
    assert.equal(await consumeRecoveryCode(store.recoveryCodes, alice.id, codes[2]!, 4), false);
    assert.equal(await consumeRecoveryCode(store.recoveryCodes, alice.id, fresh[0]!, 4), true);
    assert.equal(await store.recoveryCodes.remaining(bob.id), 2);
  } finally {
    await store.close();
  }
});
