/**
 * The page script's key encoders, run in Node with ssh-keygen and PuTTY's own tools as the oracles:
 * the OpenSSH private key the page writes is read back by ssh-keygen, and its .ppk is byte for byte
 * what src/cli/ppk.ts writes (and puttygen reads it). The served script is valid JavaScript.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Script } from 'node:vm';
import { formatPpk } from '../../cli/ppk.ts';
import { formatPublicKey, publicKeyFromKeyObject } from '../../ssh/keys.ts';
import { run } from '../../../test/harness/processes.ts';
import { encodeOpenSshEd25519, encodePpkEd25519, portalScriptSource } from './portal-script.ts';

function keyPair() {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  return { privateKey, seed: new Uint8Array(Buffer.from(jwk.d!, 'base64url')), pub: new Uint8Array(Buffer.from(jwk.x!, 'base64url')) };
}

test('the OpenSSH private key the page writes is read by ssh-keygen and gives the same public key', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-keyenc-'));
  try {
    for (const comment of ['airlock-web-key', 'x', '']) {
      const k = keyPair();
      const path = join(dir, 'key');
      writeFileSync(path, encodeOpenSshEd25519(k.seed, k.pub, comment, 0x12345678), { mode: 0o600 });
      const r = await run('ssh-keygen', ['-y', '-f', path]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim().split(' ').slice(0, 2).join(' '), formatPublicKey(publicKeyFromKeyObject(k.privateKey), ''));
      rmSync(path);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the .ppk the page writes is the one src/cli/ppk.ts writes, and puttygen reads it', async () => {
  const k = keyPair();
  const sha256 = async (d: Uint8Array) => new Uint8Array(createHash('sha256').update(d).digest());
  const ppk = await encodePpkEd25519(k.seed, k.pub, 'airlock-web-key', sha256);
  assert.equal(ppk, formatPpk(k.privateKey, 'airlock-web-key'));
  if (existsSync('/usr/bin/puttygen')) {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-ppk-'));
    try {
      writeFileSync(join(dir, 'k.ppk'), ppk, { mode: 0o600 });
      const r = await run('puttygen', [join(dir, 'k.ppk'), '-O', 'public-openssh']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim().split(' ').slice(0, 2).join(' '), formatPublicKey(publicKeyFromKeyObject(k.privateKey), ''));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('the served script is one self-contained classic script', () => {
  const src = portalScriptSource();
  assert.doesNotThrow(() => new Script(src));
  assert.doesNotMatch(src, /\bimport\b|\brequire\(/);
});
