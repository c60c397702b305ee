import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, readFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCaKeys } from './ca-keys.ts';
import { isAirlockError } from '../errors.ts';

const withDir = (fn: (dir: string) => void) => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-cakeys-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

test('created once with mode 0600, then loaded unchanged', () => withDir((dir) => {
  const first = loadCaKeys(dir);
  const again = loadCaKeys(dir);
  assert.ok(first.user.publicKey.blob.equals(again.user.publicKey.blob));
  assert.ok(!first.user.publicKey.blob.equals(first.host.publicKey.blob), 'user and host CAs are different keys');
  for (const f of ['user_ca.pem', 'host_ca.pem']) assert.equal(statSync(join(dir, 'ca', f)).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'ca')).mode & 0o777, 0o700);
}));

test('encrypted at rest with a passphrase; a wrong or missing one is a clear error', () => withDir((dir) => {
  const keys = loadCaKeys(dir, 'a long passphrase');
  assert.match(readFileSync(join(dir, 'ca', 'user_ca.pem'), 'utf8'), /ENCRYPTED PRIVATE KEY/);
  assert.ok(loadCaKeys(dir, 'a long passphrase').user.publicKey.blob.equals(keys.user.publicKey.blob));
  assert.throws(() => loadCaKeys(dir, 'wrong'), (e) => isAirlockError(e, 'config') && /AIRLOCK_CA_PASSPHRASE/.test(e.message));
  assert.throws(() => loadCaKeys(dir), (e) => isAirlockError(e, 'config') && /encrypted/.test(e.message));
}));

test('a key readable by others is refused', () => withDir((dir) => {
  loadCaKeys(dir);
  chmodSync(join(dir, 'ca', 'host_ca.pem'), 0o640);
  assert.throws(() => loadCaKeys(dir), (e) => isAirlockError(e, 'config') && /chmod 600/.test(e.message));
}));
