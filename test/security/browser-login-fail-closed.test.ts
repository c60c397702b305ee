/**
 * Checklist item 15 for the browser login: the database really fails while an SSH connection waits for
 * its approval (the table is dropped underneath the running gateway). The connection is refused with a
 * message in the terminal, and the refusal is audited as a failure — it never logs anyone in.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { startTestServer } from '../harness/in-process.ts';
import { writeSshConfig } from '../harness/gateway.ts';
import { sshWithLink } from '../harness/ssh-browser-login.ts';

test('a store failure while a browser login waits denies it, says so in the terminal, and is audited', async () => {
  const t = await startTestServer({ env: { AIRLOCK_GATEWAY_AUTH: 'certificate,browser', AIRLOCK_GATEWAY_BROWSER_PROMPT: 'none', AIRLOCK_GATEWAY_PENALTIES: 'off' } });
  try {
    await t.addUser('alice');
    const knownHosts = join(t.dataDir, 'known_hosts_test');
    writeFileSync(knownHosts, t.server.gateway.trust().knownHostsLine + '\n');
    const { host, port } = t.server.gateway.address;
    const cfg = writeSshConfig(join(t.dataDir, 'ssh_config_test'), knownHosts, [
      { alias: 'gw', hostName: host, port, user: 'alice', extra: ['PubkeyAuthentication no', 'PreferredAuthentications keyboard-interactive', 'BatchMode no', 'LogLevel INFO', 'NumberOfPasswordPrompts 1'] },
    ]);
    const r = await sshWithLink(cfg, ['gw', 'hosts'], async () => {
      const db = new DatabaseSync(join(t.dataDir, 'airlock.db'));
      try {
        db.exec('DROP TABLE browser_logins');
      } finally {
        db.close();
      }
    });
    assert.ok(r.linkSeen);
    assert.equal(r.code, 255, r.stdout);
    assert.match(r.stderr, /The browser login is unavailable right now/);
    assert.doesNotMatch(r.stdout, /signed in as alice/);
    const events = await t.server.core.store.audit.list({ type: 'gateway.auth', actor: 'alice' });
    assert.ok(events.some((e) => e.outcome === 'failure' && e.details.method === 'browser' && e.details.reason === 'internal'), JSON.stringify(events));
    assert.ok(!events.some((e) => e.outcome === 'success'));
  } finally {
    await t.stop();
  }
});
