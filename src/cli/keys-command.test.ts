import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAirlockError } from '../errors.ts';
import { keyLinesOf } from './keys-command.ts';

test('keys add: a .ppk is explained (PuTTYgen\'s "Public key for pasting"), its saved SSH2 public key is read', () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-keys-'));
  try {
    const ppk = join(dir, 'pg.ppk');
    execFileSync('puttygen', ['-t', 'ed25519', '-C', 'pg@laptop', '-o', ppk, '-q', '--new-passphrase', '/dev/null']);
    assert.throws(() => keyLinesOf(readFileSync(ppk, 'utf8'), ppk), (e) => {
      assert.ok(isAirlockError(e, 'invalid_key'));
      assert.match(e.message, /is a PuTTY private key; nothing was sent/);
      assert.match(e.message, /"Public key for pasting into OpenSSH authorized_keys file"/);
      assert.ok(e.message.includes(`airlock keys add ${join(dir, 'pg.pub')}`), e.message);
      // Not a file PuTTYgen never writes (issue 11).
      assert.ok(!e.message.includes('pg.ppk.pub'), e.message);
      return true;
    });
    // "Save public key" / puttygen -O public: the SSH2 format (RFC 4716).
    execFileSync('puttygen', [ppk, '-O', 'public', '-o', join(dir, 'pg.pub')]);
    const lines = keyLinesOf(readFileSync(join(dir, 'pg.pub'), 'utf8'), join(dir, 'pg.pub'));
    assert.deepEqual(lines, [execFileSync('puttygen', [ppk, '-L'], { encoding: 'utf8' }).trim()]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('keys add: an OpenSSH private key still points at its .pub', () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-keys-'));
  try {
    const key = join(dir, 'id');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    assert.throws(() => keyLinesOf(readFileSync(key, 'utf8'), key), (e) => isAirlockError(e, 'invalid_key') && e.message.includes(`(${key}.pub)`));
    assert.deepEqual(keyLinesOf(`# mine\n\n${readFileSync(`${key}.pub`, 'utf8')}`, `${key}.pub`), [readFileSync(`${key}.pub`, 'utf8').trim()]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
