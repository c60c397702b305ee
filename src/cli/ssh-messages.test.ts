import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifySshLine, explainFatal, explainOpenFailure, type SshEvent } from './ssh-messages.ts';

// Lines as OpenSSH 9.2 prints them at LogLevel DEBUG2 (captured from the tunnel tests).
test('the lines a tunnel waits for', () => {
  assert.deepEqual(classifySshLine('debug1: Local forwarding listening on 127.0.0.1 port 36763.'), { kind: 'listening', port: 36763 });
  assert.deepEqual(classifySshLine('debug2: channel 1: open confirm rwindow 2097152 rmax 32768'), { kind: 'open-confirm', channel: 1 });
  assert.deepEqual(classifySshLine('debug1: Connection to port 36763 forwarding to vm1 port 35385 requested.'), { kind: 'debug' });
  assert.deepEqual(classifySshLine('channel 3: open failed: administratively prohibited: Port 5432 is not open to you on vm1; allowed: 22, 8888.'),
    { kind: 'open-failed', channel: 3, reason: 'prohibited', message: 'Port 5432 is not open to you on vm1; allowed: 22, 8888.' });
  assert.deepEqual(classifySshLine('channel 2: open failed: connect failed: vm1 port 9: connection refused (nothing listens on that port?).'),
    { kind: 'open-failed', channel: 2, reason: 'connect-failed', message: 'vm1 port 9: connection refused (nothing listens on that port?).' });
  assert.deepEqual(classifySshLine('channel 4: open failed: resource shortage: At most 64 channels per connection.'),
    { kind: 'open-failed', channel: 4, reason: 'resource-shortage', message: 'At most 64 channels per connection.' });
  assert.deepEqual(classifySshLine('channel 5: open failed: connect failed'), { kind: 'open-failed', channel: 5, reason: 'connect-failed', message: '' });
});

test('the lines that end a connection', () => {
  const kind = (l: string): SshEvent['kind'] => classifySshLine(l).kind;
  assert.equal(kind('bind [127.0.0.1]:8888: Address already in use'), 'bind-failed');
  assert.equal(kind('channel_setup_fwd_listener_tcpip: cannot listen to port: 8888'), 'bind-failed');
  assert.equal(kind('Could not request local forwarding.'), 'bind-failed');
  assert.equal(kind('alice@127.0.0.1: Permission denied (publickey).'), 'auth-denied');
  assert.equal(kind('Received disconnect from 127.0.0.1 port 2222:2: Too many authentication failures'), 'too-many-auth-failures');
  assert.equal(kind('@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @'), 'host-key-mismatch');
  assert.equal(kind('Host key verification failed.'), 'host-key-mismatch');
  assert.equal(kind('No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict checking.'), 'host-key-unknown');
  assert.deepEqual(classifySshLine('ssh: Could not resolve hostname airlock-gateway: Name or service not known'), { kind: 'unknown-host', name: 'airlock-gateway' });
  assert.deepEqual(classifySshLine('ssh: connect to host 127.0.0.1 port 2222: Connection refused'), { kind: 'connect-failed', line: 'ssh: connect to host 127.0.0.1 port 2222: Connection refused', refused: true });
  assert.equal(kind('Authenticated to 127.0.0.1 ([127.0.0.1]:45011) using "publickey".'), 'other');
});

test('plain words: "not allowed" and "connection refused" are different sentences', () => {
  const w = { target: 'vm1', port: 8888, service: 'jupyter', gatewayAlias: 'airlock-gateway' };
  const refused = explainOpenFailure({ kind: 'open-failed', channel: 1, reason: 'connect-failed', message: 'vm1 port 8888: connection refused (nothing listens on that port?).' }, w);
  assert.match(refused, /^Connection refused: nothing is listening on vm1 port 8888 \(jupyter\)\./);
  const prohibited = explainOpenFailure({ kind: 'open-failed', channel: 1, reason: 'prohibited', message: 'Port 8888 is not open to you on vm1.' }, w);
  assert.match(prohibited, /^Not allowed: the gateway does not let you reach vm1 port 8888 \(jupyter\)\..*The gateway said: "Port 8888 is not open to you on vm1\."$/);
  assert.match(explainOpenFailure({ kind: 'open-failed', channel: 1, reason: 'connect-failed', message: 'vm1 port 8888: connection timed out.' }, w), /^No answer from vm1 port 8888/);
  assert.match(explainFatal({ kind: 'auth-denied', line: '' }, w)!, /expired or been revoked\. Run airlock login/);
  assert.match(explainFatal({ kind: 'unknown-host', name: 'airlock-gateway' }, w)!, /run airlock config/);
  assert.equal(explainFatal({ kind: 'other', line: 'x' }, w), null);
});
