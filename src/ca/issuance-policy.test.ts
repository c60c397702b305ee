import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { planUserCertificate, checkDailyQuota, quotaStatus, principalsFor, sourceAddressFor, DAY_MS, type IssuancePolicy } from './issuance-policy.ts';
import { publicKeyFromKeyObject, parsePublicKeyBlob } from '../ssh/keys.ts';
import { SshWriter } from '../ssh/wire.ts';
import { isAirlockError } from '../errors.ts';
import type { User } from '../store/repositories.ts';

const NOW = Date.parse('2026-11-24T10:00:00Z');
const policy: IssuancePolicy = { ttlMs: DAY_MS, dailyLimit: 5, allowAgentForwarding: false };
const user: User = { id: 'u1', name: 'alice', email: null, isAdmin: false, disabled: false, passwordHash: '', totpSecret: null, sourceCidrs: [], extraPrincipals: [], createdAt: 0 };
const key = publicKeyFromKeyObject(generateKeyPairSync('ed25519').publicKey);
const plan = (over: Partial<Parameters<typeof planUserCertificate>[0]> = {}) =>
  planUserCertificate({ user, publicKey: key, caKeyBlobs: [], issuedInLastDay: [], now: NOW, policy, issuer: 'Airlock', ...over });

test('defaults: the user name as principal, 24 h, pty and port forwarding, no agent forwarding', () => {
  const p = plan();
  assert.deepEqual(p.principals, ['alice']);
  assert.equal(p.validBeforeMs - NOW, DAY_MS);
  assert.ok(NOW - p.validAfterMs <= 61_000, 'back-dated by about a minute for clock skew');
  assert.deepEqual(Object.keys(p.extensions).sort(), ['permit-port-forwarding', 'permit-pty']);
  assert.deepEqual(p.criticalOptions, {});
  assert.ok('permit-agent-forwarding' in plan({ policy: { ...policy, allowAgentForwarding: true } }).extensions);
});

test('operator-mapped principals are added; bad ones refused (commas and spaces would widen access)', () => {
  assert.deepEqual(plan({ user: { ...user, extraPrincipals: ['proj42', 'alice'] } }).principals, ['alice', 'proj42']);
  for (const bad of ['a,b', 'a b', '', '-x', 'x\n', 'é', 'a'.repeat(65), '*']) {
    assert.throws(() => principalsFor({ name: 'alice', extraPrincipals: [bad] }), (e) => isAirlockError(e, 'forbidden'), JSON.stringify(bad));
  }
});

test('an e-mail style name gets its account name as second principal; the key ID keeps the full name', () => {
  const p = plan({ user: { ...user, name: 'bob@uni.example', extraPrincipals: ['proj42'] } });
  assert.deepEqual(p.principals, ['bob@uni.example', 'bob_uni.example', 'proj42']);
  assert.match(p.keyId, /:bob@uni\.example$/);
  assert.deepEqual(plan().principals, ['alice'], 'a local name is its own account');
});

test('source-address comes from the user\'s CIDR restriction, canonicalised', () => {
  assert.equal(plan({ user: { ...user, sourceCidrs: ['10.1.0.0/16', '2001:db8::/32'] } }).criticalOptions['source-address'], '10.1.0.0/16,2001:db8::/32');
  assert.equal(sourceAddressFor([]), undefined);
  assert.throws(() => sourceAddressFor(['10.0.0.0/33']), (e) => isAirlockError(e, 'config'));
  assert.throws(() => sourceAddressFor(['10.0.0.0/8,0.0.0.0/0']), (e) => isAirlockError(e, 'config'), 'a comma cannot smuggle in a second range');
});

test('refuses disabled users, weak keys and the CA\'s own keys', () => {
  assert.throws(() => plan({ user: { ...user, disabled: true } }), (e) => isAirlockError(e, 'disabled'));
  const rsa1024 = publicKeyFromKeyObject(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey);
  assert.throws(() => plan({ publicKey: rsa1024 }), (e) => isAirlockError(e, 'weak_key') && /1024/.test(e.message));
  assert.throws(() => plan({ caKeyBlobs: [key.blob] }), (e) => isAirlockError(e, 'invalid_key'));
  const dss = new SshWriter().string('ssh-dss').mpint(Buffer.from([1])).mpint(Buffer.from([2])).mpint(Buffer.from([3])).mpint(Buffer.from([4])).toBuffer();
  assert.throws(() => plan({ publicKey: parsePublicKeyBlob(dss) }), (e) => isAirlockError(e) && /DSA/.test(e.message));
});

test('quota: the sixth in 24 hours is refused with the exact time of the next', () => {
  const issued = [NOW - 20 * 3_600_000, NOW - 10 * 3_600_000, NOW - 3_600_000, NOW - 60_000, NOW - 1000];
  assert.throws(() => checkDailyQuota(issued, NOW, 5), (e) => {
    assert.ok(isAirlockError(e, 'quota_exceeded'));
    assert.equal(e.details?.next_possible_at, new Date(NOW + 4 * 3_600_000).toISOString());
    return true;
  });
  checkDailyQuota(issued.slice(1), NOW, 5);
  checkDailyQuota([NOW - DAY_MS, ...issued.slice(1)], NOW, 5); // exactly 24 h ago no longer counts
});

test('quota status for the home page agrees with the refusal: left, and when the next slot opens', () => {
  const issued = [NOW - 20 * 3_600_000, NOW - 10 * 3_600_000, NOW - 3_600_000, NOW - 60_000, NOW - 1000];
  assert.deepEqual(quotaStatus(issued, NOW, 5), { limit: 5, used: 5, left: 0, nextSlotAt: NOW + 4 * 3_600_000 });
  assert.deepEqual(quotaStatus(issued.slice(3), NOW, 5), { limit: 5, used: 2, left: 3, nextSlotAt: NOW - 60_000 + DAY_MS });
  assert.deepEqual(quotaStatus([NOW - DAY_MS], NOW, 5), { limit: 5, used: 0, left: 5, nextSlotAt: null });
  // Whenever the status says none is left, issuance refuses, and at nextSlotAt it allows one again.
  assert.throws(() => checkDailyQuota(issued, NOW, 5));
  checkDailyQuota(issued, quotaStatus(issued, NOW, 5).nextSlotAt!, 5);
});

test('quota property: refused exactly when `limit` issues fall in the last 24 h, and the next slot then opens', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 2 * DAY_MS }), { maxLength: 12 }), fc.integer({ min: 1, max: 6 }), (agos, limit) => {
      const issued = agos.map((a) => NOW - a);
      const inWindow = issued.filter((t) => t > NOW - DAY_MS).length;
      let next: number | undefined;
      try {
        checkDailyQuota(issued, NOW, limit);
      } catch (e) {
        assert.ok(isAirlockError(e, 'quota_exceeded'));
        next = Date.parse(e.details!.next_possible_at as string);
      }
      assert.equal(next !== undefined, inWindow >= limit);
      if (next !== undefined) {
        assert.ok(next > NOW);
        checkDailyQuota(issued, next, limit); // at the announced time it works
      }
    }),
    { numRuns: 300 },
  );
});
