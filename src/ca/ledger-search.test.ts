/** The operators' ledger search: by user, exact serial, fingerprint (whole, or a prefix of 8+ characters). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { searchLedger } from './ledger-search.ts';
import type { CertificateRecord } from '../store/repositories.ts';

const rec = (serial: bigint, userName: string, fingerprint: string): CertificateRecord => ({
  serial, userId: userName, userName, keyId: userName, certType: 'user', principals: [userName], publicKey: '', fingerprint,
  validAfter: 0, validBefore: 1, method: 'admin', clientAddress: null, issuedAt: 0, revokedAt: null, revokeReason: null,
});

test('searchLedger finds by user name, exact serial and fingerprint prefix, and nothing by fragments', () => {
  const all = [rec(12n, 'alice', 'SHA256:abcdefghIJKL'), rec(123n, 'bob', 'SHA256:zzzzzzzzYYYY'), rec(7n, 'Carol', 'SHA256:abcdefgXXXXX')];
  const serials = (q: string) => searchLedger(all, q).map((r) => r.serial);
  assert.deepEqual(serials(''), [12n, 123n, 7n]);
  assert.deepEqual(serials('alice'), [12n]);
  assert.deepEqual(serials('carol'), [7n], 'user names case-insensitively');
  assert.deepEqual(serials('12'), [12n], 'a serial matches exactly, not as a prefix of 123');
  assert.deepEqual(serials('SHA256:abcdefghIJKL'), [12n]);
  assert.deepEqual(serials('abcdefgh'), [12n], 'a prefix of 8+ characters without SHA256:');
  assert.deepEqual(serials('abcdefg'), [], 'shorter fragments match nothing');
  assert.deepEqual(serials('ali'), []);
});
