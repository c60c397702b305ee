import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig, parseByteSize } from '../config.ts';
import { isAirlockError } from '../errors.ts';

test('gateway defaults: certificate only, 30 s grace, 10 per address, 100 in total, 6 tries, 1 GiB / 1 h rekey, no loopback targets', () => {
  const c = loadConfig({ env: {} });
  assert.deepEqual(c.gateway.authMethods, ['certificate']);
  assert.equal(c.gateway.loginGraceMs, 30_000);
  assert.equal(c.gateway.maxUnauthenticatedPerAddress, 10);
  assert.equal(c.gateway.maxUnauthenticated, 100);
  assert.equal(c.gateway.maxAuthTries, 6);
  assert.equal(c.gateway.penalties, true);
  assert.equal(c.gateway.rekeyBytes, 2 ** 30);
  assert.equal(c.gateway.rekeyIntervalMs, 3_600_000);
  assert.equal(c.gateway.allowLoopbackTargets, false);
  assert.equal(c.sshPublic, undefined);
});

test('gateway settings from the environment, and refusals with a reason', () => {
  const c = loadConfig({ env: {
    AIRLOCK_GATEWAY_AUTH: 'certificate, publickey', AIRLOCK_GATEWAY_LOGIN_GRACE: '2s', AIRLOCK_GATEWAY_MAX_UNAUTH_PER_ADDRESS: '3',
    AIRLOCK_GATEWAY_REKEY_BYTES: '512K', AIRLOCK_GATEWAY_PENALTIES: 'off', AIRLOCK_GATEWAY_PENALTY_EXEMPT: '10.0.0.0/8,::1',
    AIRLOCK_GATEWAY_ALLOW_LOOPBACK_TARGETS: '1', AIRLOCK_SSH_PUBLIC: 'gw.example.org:22',
  } });
  assert.deepEqual(c.gateway.authMethods, ['certificate', 'publickey']);
  assert.equal(c.gateway.loginGraceMs, 2000);
  assert.equal(c.gateway.maxUnauthenticatedPerAddress, 3);
  assert.equal(c.gateway.rekeyBytes, 512 * 1024);
  assert.equal(c.gateway.penalties, false);
  assert.deepEqual(c.gateway.penaltyExempt, ['10.0.0.0/8', '::1']);
  assert.equal(c.gateway.allowLoopbackTargets, true);
  assert.deepEqual(c.sshPublic, { host: 'gw.example.org', port: 22 });
  assert.deepEqual(loadConfig({ env: { AIRLOCK_SSH_PUBLIC: 'gw.example.org' } }).sshPublic, { host: 'gw.example.org', port: undefined });
  for (const env of [{ AIRLOCK_GATEWAY_AUTH: 'password' }, { AIRLOCK_GATEWAY_LOGIN_GRACE: '0s' }, { AIRLOCK_GATEWAY_MAX_UNAUTH: '-1' }, { AIRLOCK_GATEWAY_PENALTY_EXEMPT: 'nope' }, { AIRLOCK_GATEWAY_REKEY_BYTES: '1X' }, { AIRLOCK_GATEWAY_ALLOW_LOOPBACK_TARGETS: 'maybe' }]) {
    assert.throws(() => loadConfig({ env }), (e) => isAirlockError(e, 'config'), JSON.stringify(env));
  }
  assert.equal(parseByteSize('1GiB', 'x'), 2 ** 30);
  assert.equal(parseByteSize('100', 'x'), 100);
});

test('limits on authenticated connections and channels: defaults 32 per user, 256 per address, 256 channels per user; bounded', () => {
  const d = loadConfig({ env: {} }).gateway;
  assert.deepEqual([d.maxConnectionsPerUser, d.maxConnectionsPerAddress, d.maxChannelsPerUser], [32, 256, 256]);
  const c = loadConfig({ env: { AIRLOCK_GATEWAY_MAX_CONNECTIONS_PER_USER: '3', AIRLOCK_GATEWAY_MAX_CONNECTIONS_PER_ADDRESS: '4', AIRLOCK_GATEWAY_MAX_CHANNELS_PER_USER: '5' } }).gateway;
  assert.deepEqual([c.maxConnectionsPerUser, c.maxConnectionsPerAddress, c.maxChannelsPerUser], [3, 4, 5]);
  for (const env of [{ AIRLOCK_GATEWAY_MAX_CONNECTIONS_PER_USER: '0' }, { AIRLOCK_GATEWAY_MAX_CONNECTIONS_PER_ADDRESS: 'many' }, { AIRLOCK_GATEWAY_MAX_CHANNELS_PER_USER: '1.5' }]) {
    assert.throws(() => loadConfig({ env }), (e) => isAirlockError(e, 'config'), JSON.stringify(env));
  }
});
