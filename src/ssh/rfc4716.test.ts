import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAirlockError } from '../errors.ts';
import { formatPublicKey } from './keys.ts';
import { parseRfc4716PublicKey, parseRfc4716PublicKeys } from './rfc4716.ts';

/** A key made by the real PuTTYgen: its SSH2 public file (`-O public`) and its OpenSSH line (`-L`, the oracle). */
function puttygenKey(dir: string, type: string, comment: string): { ssh2: string; openssh: string } {
  const ppk = join(dir, `${type}.ppk`);
  execFileSync('puttygen', ['-t', type, ...(type === 'rsa' ? ['-b', '2048'] : []), '-C', comment, '-o', ppk, '-q', '--new-passphrase', '/dev/null']);
  execFileSync('puttygen', [ppk, '-O', 'public', '-o', `${ppk}.pub`]);
  return { ssh2: readFileSync(`${ppk}.pub`, 'utf8'), openssh: execFileSync('puttygen', [ppk, '-L'], { encoding: 'utf8' }).trim() };
}

test('reads what PuTTYgen saves as its public key (RFC 4716) as the same key as its OpenSSH line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-rfc4716-'));
  try {
    for (const [type, comment] of [['ed25519', 'eddsa-key-20261204'], ['ecdsa', 'with "quotes" inside'], ['rsa', `a long comment ${'x'.repeat(80)}`]] as const) {
      const { ssh2, openssh } = puttygenKey(dir, type, comment);
      assert.match(ssh2, /^---- BEGIN SSH2 PUBLIC KEY ----\r?\n/);
      const key = parseRfc4716PublicKey(ssh2);
      assert.equal(formatPublicKey(key), openssh, type);
      assert.equal(key.comment, comment);
      // ssh-keygen, the other oracle, converts the same file to the same key.
      const viaKeygen = execFileSync('ssh-keygen', ['-i', '-m', 'RFC4716', '-f', join(dir, `${type}.ppk.pub`)], { encoding: 'utf8' }).trim();
      assert.equal(formatPublicKey(key, ''), viaKeygen);
      // CRLF line ends (the file copied from Windows) read the same.
      assert.equal(formatPublicKey(parseRfc4716PublicKey(ssh2.replace(/\r?\n/g, '\r\n'))), openssh);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('several blocks and OpenSSH lines in one file; header continuation lines', () => {
  const body = 'AAAAC3NzaC1lZDI1NTE5AAAAIP4vI7Jyh+aGs59nF7DGJX/bwgJcYoH9/6asKZ32\nrZGs';
  const text = `ssh-ed25519 AAAA x\n---- BEGIN SSH2 PUBLIC KEY ----\nx-private: a\\\n continued\nComment: "one \\\ntwo"\n${body}\n---- END SSH2 PUBLIC KEY ----\n`;
  const { keys, rest } = parseRfc4716PublicKeys(text);
  assert.equal(keys.length, 1);
  assert.equal(keys[0]!.comment, 'one two');
  assert.equal(rest.trim(), 'ssh-ed25519 AAAA x');
});

test('malformed blocks are refused with invalid_key', () => {
  const body = 'AAAAC3NzaC1lZDI1NTE5AAAAIP4vI7Jyh+aGs59nF7DGJX/bwgJcYoH9/6asKZ32rZGs';
  for (const bad of [
    `---- BEGIN SSH2 PUBLIC KEY ----\n${body}\n`,
    '---- BEGIN SSH2 PUBLIC KEY ----\n---- END SSH2 PUBLIC KEY ----\n',
    `---- BEGIN SSH2 PUBLIC KEY ----\n${body.slice(0, -1)}!\n---- END SSH2 PUBLIC KEY ----\n`,
    `---- BEGIN SSH2 PUBLIC KEY ----\nComment: "a\u0007b"\n${body}\n---- END SSH2 PUBLIC KEY ----\n`,
    `---- BEGIN SSH2 PUBLIC KEY ----\n${'t'.repeat(65)}: v\n${body}\n---- END SSH2 PUBLIC KEY ----\n`,
    `---- BEGIN SSH2 PUBLIC KEY ----\n${'QUFB'.repeat(20_000)}\n---- END SSH2 PUBLIC KEY ----\n`,
  ]) {
    assert.throws(() => parseRfc4716PublicKey(bad), (e) => isAirlockError(e, 'invalid_key'), bad.slice(0, 80));
  }
});
