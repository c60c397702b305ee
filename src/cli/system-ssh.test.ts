import { test } from 'node:test';
import assert from 'node:assert/strict';
import { userInfo } from 'node:os';
import { isRecentEnough, localSshVersion, parseSshG, parseSshVersion, sshConfigArgs } from './system-ssh.ts';

test('ssh -V lines of OpenSSH on Linux, Windows and macOS', () => {
  assert.deepEqual(parseSshVersion('OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15 3 Sep 2024\n'), { product: 'OpenSSH', major: 9, minor: 2, text: 'OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15 3 Sep 2024' });
  assert.equal(parseSshVersion('OpenSSH_for_Windows_8.1p1, LibreSSL 3.0.2')?.minor, 1);
  assert.equal(parseSshVersion('OpenSSH_7.2p2 Ubuntu-4ubuntu2.10, OpenSSL 1.0.2g  1 Mar 2016')?.major, 7);
  assert.equal(parseSshVersion('Dropbear_2022.83')?.product, 'Dropbear');
  assert.equal(parseSshVersion('bash: ssh: command not found'), null);
});

test('7.3 is the oldest client with certificates and ProxyJump', () => {
  assert.equal(isRecentEnough({ major: 7, minor: 2 }), false);
  assert.equal(isRecentEnough({ major: 7, minor: 3 }), true);
  assert.equal(isRecentEnough({ major: 6, minor: 9 }), false);
  assert.equal(isRecentEnough({ major: 10, minor: 0 }), true);
});

test('this machine\'s ssh is found and parsed', () => {
  const v = localSshVersion();
  assert.equal(v.kind, 'ok');
});

test('-F ~/.ssh/config only when $HOME is not the passwd home', () => {
  assert.deepEqual(sshConfigArgs(userInfo().homedir), []);
  assert.deepEqual(sshConfigArgs('/tmp/somewhere'), ['-F', '/tmp/somewhere/.ssh/config']);
});

test('ssh -G output: repeated options keep every value', () => {
  const m = parseSshG('user root\nidentityfile /a\nidentityfile /b\nport 22\n');
  assert.deepEqual(m.get('identityfile'), ['/a', '/b']);
  assert.deepEqual(m.get('user'), ['root']);
});
