import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Secret, URI } from 'otpauth';
import { isAirlockError } from '../errors.ts';
import { currentTotp, looksLikeTotp, newTotpSecret, totpQrTerminal, totpStep, totpUri, verifyTotp } from './totp.ts';

// RFC 6238 Appendix B, SHA-1 rows. The RFC prints 8-digit codes; a 6-digit code is the same HOTP
// value taken mod 10^6, i.e. the last six digits.
const RFC_SECRET = Secret.fromUTF8('12345678901234567890').base32;
const RFC_VECTORS: Array<[seconds: number, code8: string]> = [
  [59, '94287082'],
  [1111111109, '07081804'],
  [1111111111, '14050471'],
  [1234567890, '89005924'],
  [2000000000, '69279037'],
  [20000000000, '65353130'],
];

test('RFC 6238 SHA-1 test vectors', () => {
  assert.equal(RFC_SECRET, 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
  for (const [seconds, code8] of RFC_VECTORS) {
    const now = seconds * 1000;
    const code = code8.slice(2);
    assert.equal(currentTotp(RFC_SECRET, now), code, `T=${seconds}`);
    assert.equal(verifyTotp(RFC_SECRET, code, now, 0), Math.floor(seconds / 30), `T=${seconds}`);
  }
});

test('returns the matched step inside the window and null outside it', () => {
  const secret = newTotpSecret();
  const now = 1_700_000_000_000;
  const step = totpStep(now);
  const previous = currentTotp(secret, now - 30_000);
  const next = currentTotp(secret, now + 30_000);
  const twoAgo = currentTotp(secret, now - 60_000);
  assert.equal(verifyTotp(secret, currentTotp(secret, now), now), step);
  assert.equal(verifyTotp(secret, previous, now), step - 1);
  assert.equal(verifyTotp(secret, next, now), step + 1);
  assert.equal(verifyTotp(secret, previous, now, 0), null);
  assert.equal(verifyTotp(secret, twoAgo, now), null);
  assert.equal(verifyTotp(secret, twoAgo, now, 2), step - 2);
});

test('rejects non-code input and accepts spaces typed from an app display', () => {
  const secret = newTotpSecret();
  const now = 1_700_000_000_000;
  const code = currentTotp(secret, now);
  assert.equal(verifyTotp(secret, `${code.slice(0, 3)} ${code.slice(3)}`, now), totpStep(now));
  for (const bad of ['', '12345', '1234567', 'abcdef', `${code}0`, `${code.slice(0, 5)}x`, '１２３４５６']) {
    assert.equal(verifyTotp(secret, bad, now), null, bad);
  }
  assert.equal(looksLikeTotp('123 456'), true);
  assert.equal(looksLikeTotp('abcd-efgh-jkmn'), false);
});

test('property: a code from another secret or a far-off time does not verify', () => {
  // Each can match by chance (about 3 in 10^6 per try with a window of 1): count, never expect 0 blindly.
  let accidental = 0;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 4_000_000_000 }), fc.integer({ min: 2, max: 1000 }), (seconds, offsetSteps) => {
      const secret = newTotpSecret();
      const now = seconds * 1000;
      assert.equal(verifyTotp(secret, currentTotp(secret, now), now), totpStep(now));
      if (verifyTotp(newTotpSecret(), currentTotp(secret, now), now) !== null) accidental++;
      if (verifyTotp(secret, currentTotp(secret, now + offsetSteps * 30_000), now) !== null) accidental++;
      if (verifyTotp(secret, currentTotp(secret, now - offsetSteps * 30_000), now) !== null) accidental++;
    }),
    { numRuns: 300 },
  );
  assert.ok(accidental <= 1, `${accidental} accidental matches in 900 tries`);
});

test('secrets are 160-bit base32 and distinct', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const s = newTotpSecret();
    assert.match(s, /^[A-Z2-7]{32}$/);
    assert.equal(Secret.fromBase32(s).bytes.length, 20);
    seen.add(s);
  }
  assert.equal(seen.size, 50);
});

test('a malformed stored secret is an internal error, and the window is bounded', () => {
  assert.throws(() => verifyTotp('not base32!', '123456', 0), (e) => isAirlockError(e, 'internal'));
  assert.throws(() => verifyTotp('ABC', '123456', 0), (e) => isAirlockError(e, 'internal'));
  assert.throws(() => verifyTotp(newTotpSecret(), '123456', 0, 10), (e) => isAirlockError(e, 'internal'));
});

test('the key URI round-trips through an otpauth parser with the right parameters', () => {
  const secret = newTotpSecret();
  const uri = totpUri({ issuer: 'Airlock Lab', account: 'alice', secret });
  assert.ok(uri.startsWith('otpauth://totp/Airlock%20Lab:alice?'));
  const parsed = URI.parse(uri);
  assert.equal(parsed.issuer, 'Airlock Lab');
  assert.equal(parsed.label, 'alice');
  assert.equal(parsed.secret.base32, secret);
  assert.equal(parsed.algorithm, 'SHA1');
  assert.equal(parsed.digits, 6);
  assert.ok('period' in parsed && parsed.period === 30);
});

test('renders a terminal QR code', async () => {
  const uri = totpUri({ issuer: 'Airlock', account: 'alice', secret: newTotpSecret() });
  const qr = await totpQrTerminal(uri);
  const lines = qr.trimEnd().split('\n');
  assert.ok(lines.length >= 15 && lines.length <= 40, `${lines.length} lines`);
  assert.match(qr, /[▀▄█]/);
});
