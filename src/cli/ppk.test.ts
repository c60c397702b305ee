import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { formatPpk } from './ppk.ts';
import { formatPublicKey, publicKeyFromKeyObject } from '../ssh/keys.ts';
import { formatOpenSshPrivateKey } from '../ssh/private-key.ts';

const PUTTYGEN = spawnSync('puttygen', ['--version'], { encoding: 'utf8' });
const skip = PUTTYGEN.error ? 'puttygen is not installed (apt-get install putty-tools)' : false;

function ed25519FromSeed(seed: Buffer): KeyObject {
  return createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' });
}

function withDir(f: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-ppk-'));
  try {
    f(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function puttygen(args: string[]): string {
  const r = spawnSync('puttygen', args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `puttygen ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

test('Ed25519: byte for byte what puttygen writes for the same key (zero bytes at both ends of the seed too)', { skip }, () => {
  withDir((dir) => {
    const seeds = [randomBytes(32), Buffer.concat([Buffer.alloc(2), randomBytes(28), Buffer.alloc(2)])];
    for (const [i, seed] of seeds.entries()) {
      const key = ed25519FromSeed(seed);
      const openssh = join(dir, `k${i}`);
      writeFileSync(openssh, formatOpenSshPrivateKey(key, 'alice@airlock'), { mode: 0o600 });
      const theirs = join(dir, `k${i}.ppk`);
      puttygen([openssh, '-O', 'private', '-o', theirs]);
      assert.equal(formatPpk(key, 'alice@airlock'), readFileSync(theirs, 'utf8'));
    }
  });
});

for (const [name, make] of [
  ['ECDSA P-256', () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey],
  ['ECDSA P-384', () => generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey],
  ['RSA 3072', () => generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey],
] as const) {
  test(`${name}: puttygen accepts the MAC and gives back the same public and private key`, { skip }, () => {
    withDir((dir) => {
      const key = make();
      const ppk = join(dir, 'key.ppk');
      writeFileSync(ppk, formatPpk(key, 'test key'), { mode: 0o600 });
      const pub = puttygen([ppk, '-O', 'public-openssh']).trim();
      assert.equal(pub, formatPublicKey(publicKeyFromKeyObject(key), 'test key'));
      const back = join(dir, 'back');
      puttygen([ppk, '-O', 'private-openssh-new', '-o', back]);
      const y = spawnSync('ssh-keygen', ['-y', '-f', back], { encoding: 'utf8' });
      assert.equal(y.status, 0, y.stderr);
      assert.equal(y.stdout.trim().split(' ').slice(0, 2).join(' '), formatPublicKey(publicKeyFromKeyObject(key)));
    });
  });
}

test('a PPK with a changed byte is refused by puttygen (the MAC covers the public half too)', { skip }, () => {
  withDir((dir) => {
    const key = generateKeyPairSync('ed25519').privateKey;
    const text = formatPpk(key, 'alice@airlock').replace('Comment: alice@airlock', 'Comment: mallory@airlock');
    const ppk = join(dir, 'key.ppk');
    writeFileSync(ppk, text, { mode: 0o600 });
    // Reading the private half checks the MAC (the public half alone is read without it).
    const r = spawnSync('puttygen', [ppk, '-O', 'private-openssh-new', '-o', join(dir, 'out')], { encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /MAC|corrupt/i);
  });
});

test('the format: version 3 header, unencrypted, 64-character base64 lines', () => {
  const text = formatPpk(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, 'c');
  const lines = text.trimEnd().split('\n');
  assert.equal(lines[0], 'PuTTY-User-Key-File-3: ssh-rsa');
  assert.equal(lines[1], 'Encryption: none');
  assert.equal(lines[2], 'Comment: c');
  const publicLines = Number(/^Public-Lines: (\d+)$/.exec(lines[3]!)![1]);
  for (const l of lines.slice(4, 4 + publicLines - 1)) assert.equal(l.length, 64);
  assert.match(lines.at(-1)!, /^Private-MAC: [0-9a-f]{64}$/);
  assert.throws(() => formatPpk(generateKeyPairSync('ed25519').privateKey, 'two\nlines'), /one line/);
  assert.throws(() => formatPpk(generateKeyPairSync('ed25519').publicKey, 'x'), /needs the private key/);
});
