/**
 * Issue 10, item 4: the authentication-chain policy must not fail open when the gateway runs without
 * its browser-login module (an embedding, a per-job endpoint, a future refactor). Crafted configuration:
 * the only chain is `publickey+browser`, the gateway is started without `browserLogin`, and a real
 * OpenSSH client offers a registered key. Before the fix the chains were only consulted inside the
 * browser module, so the key alone logged in.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.ts';
import { openCore } from '../../src/server.ts';
import { startGateway } from '../../src/gateway/gateway.ts';
import { loadOrCreateHostKey } from '../../src/gateway/host-key.ts';
import { enrolUser } from '../../src/identity/local-login.ts';
import { LOW_COST_FOR_TESTS } from '../../src/identity/password.ts';
import { sshF, tempDir, writeKeyPair, writeSshConfig } from '../harness/gateway.ts';

test('without the browser-login module a key+browser chain refuses the key alone instead of letting it in', async () => {
  const dir = tempDir('airlock-chain-');
  const config = loadConfig({ env: { AIRLOCK_GATEWAY_AUTH: 'publickey+browser', AIRLOCK_GATEWAY_PENALTIES: 'off' }, flags: { data_dir: join(dir, 'data') } });
  const core = await openCore(config, { log: null });
  const gw = await startGateway({
    config: config.gateway, listen: { host: '127.0.0.1', port: 0 }, hostKey: loadOrCreateHostKey(config.dataDir), userCaKey: core.ca.userCaKey,
    store: core.store, audit: core.audit, clock: core.clock, inventory: core.inventory, keys: core.keyRegistry,
    // browserLogin: absent on purpose.
  });
  try {
    await enrolUser(core.store, { name: 'alice', email: null, isAdmin: false, password: 'correct horse battery staple' }, core.clock, { kdfCost: LOW_COST_FOR_TESTS });
    const alice = (await core.store.users.byName('alice'))!;
    const key = writeKeyPair(join(dir, 'alice'));
    await core.keyRegistry.add({ id: alice.id, name: 'alice' }, readFileSync(`${key}.pub`, 'utf8').trim(), { name: 'test', clientAddress: null });
    const knownHosts = join(dir, 'known_hosts');
    writeFileSync(knownHosts, gw.trust().knownHostsLine + '\n');
    const cfg = writeSshConfig(join(dir, 'ssh_config'), knownHosts, [
      { alias: 'gw', hostName: gw.address.host, port: gw.address.port, user: 'alice', extra: [`IdentityFile ${key}`, 'IdentitiesOnly yes', 'CertificateFile none'] },
    ]);
    const r = await sshF(cfg, ['gw', 'hosts']);
    assert.equal(r.code, 255, r.stdout);
    assert.doesNotMatch(r.stdout, /alice/);
    assert.match(r.stderr, /Permission denied/);
    const events = await core.store.audit.list({ type: 'gateway.auth', actor: 'alice' });
    assert.ok(!events.some((e) => e.outcome === 'success'), JSON.stringify(events));
    assert.ok(events.some((e) => e.outcome === 'denied' && e.details.reason === 'chain_not_allowed'), JSON.stringify(events));
    assert.equal(gw.stats().logins, 0);
  } finally {
    await gw.close();
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
