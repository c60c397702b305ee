import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { isAirlockError } from '../errors.ts';
import { configuredGatewayEndpoint, gatewayTrust, hostKeyPath, knownHostsHost, loadOrCreateHostKey } from './host-key.ts';

test('the host key is created once, 0600, and read back identically; ssh-keygen agrees on the fingerprint and randomart', () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-hostkey-'));
  try {
    const a = loadOrCreateHostKey(dir);
    assert.equal(statSync(hostKeyPath(dir)).mode & 0o777, 0o600);
    const b = loadOrCreateHostKey(dir);
    assert.ok(a.publicKey.blob.equals(b.publicKey.blob));
    assert.equal(a.publicKey.type, 'ssh-ed25519');
    const trust = gatewayTrust(a.publicKey, { host: 'gw.example.org', port: 2222 });
    const keygen = execFileSync('ssh-keygen', ['-l', '-v', '-E', 'sha256', '-f', hostKeyPath(dir)], { encoding: 'utf8' });
    assert.ok(keygen.includes(trust.fingerprint), keygen);
    assert.ok(keygen.includes(trust.randomart), keygen);
    assert.equal(trust.knownHostsLine, `[gw.example.org]:2222 ${trust.hostKey}`);
    chmodSync(hostKeyPath(dir), 0o644);
    assert.throws(() => loadOrCreateHostKey(dir), (e) => isAirlockError(e, 'config') && /readable by others/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('known_hosts host field and the configured endpoint', () => {
  assert.equal(knownHostsHost('gw', 22), 'gw');
  assert.equal(knownHostsHost('::1', 2222), '[::1]:2222');
  const dir = mkdtempSync(join(tmpdir(), 'airlock-endpoint-'));
  try {
    const base = { dataDir: dir, sshListen: { host: '127.0.0.1', port: 0 }, sshPublic: undefined };
    assert.equal(configuredGatewayEndpoint(base), null);
    assert.deepEqual(configuredGatewayEndpoint({ ...base, sshListen: { host: '0.0.0.0', port: 2222 } }), { host: '0.0.0.0', port: 2222 });
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'endpoints.json'), JSON.stringify({ ssh: '127.0.0.1:40000', http: 'http://x' }));
    assert.deepEqual(configuredGatewayEndpoint(base), { host: '127.0.0.1', port: 40000 });
    assert.deepEqual(configuredGatewayEndpoint({ ...base, sshPublic: { host: 'gw.example.org', port: undefined } }), { host: 'gw.example.org', port: 40000 });
    assert.deepEqual(configuredGatewayEndpoint({ ...base, sshPublic: { host: 'gw.example.org', port: 22 } }), { host: 'gw.example.org', port: 22 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
