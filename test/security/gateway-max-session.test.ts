/**
 * Issue 10, item 4: logins without a certificate's `validBefore` (a registered key; a browser login)
 * used to last as long as the client kept the connection. AIRLOCK_GATEWAY_MAX_SESSION (here 3 s instead
 * of the default 12 h) ends them: at the deadline the connection is ended with the reason, and new
 * channels are refused. A certificate login on the same gateway is governed by its certificate instead
 * and keeps running past that age.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../harness/processes.ts';
import { sshF, startTargetSshd, startTestGateway, writeKeyPair, writeSshConfig } from '../harness/gateway.ts';
import { holdSshSession } from '../harness/held-ssh-session.ts';

const MAX_SESSION_MS = 3_000;
/** Generous for a busy 2-core machine. */
const WITHIN_MS = 1_500;

test('a registered-key login ends at AIRLOCK_GATEWAY_MAX_SESSION with the reason; a certificate login runs on', async () => {
  const gw = await startTestGateway({
    AIRLOCK_GATEWAY_AUTH: 'certificate,publickey', AIRLOCK_GATEWAY_MAX_SESSION: `${MAX_SESSION_MS / 1000}s`,
    AIRLOCK_GATEWAY_ALLOW_LOOPBACK_TARGETS: '1', AIRLOCK_GATEWAY_PENALTIES: 'off',
  });
  const node = await startTargetSshd(gw, ['fay', 'gil']);
  const fayMaster = { kill: () => {} };
  const gilMaster = { kill: () => {} };
  try {
    const fay = await gw.user('fay');
    const gil = await gw.user('gil');
    await gw.project('p', ['fay', 'gil']);
    await gw.target({ name: 'job-1', project: 'p', host: '127.0.0.1', port: node.port, loginUser: 'root' });
    appendFileSync(gw.knownHosts, `[job-1]:${node.port} ${node.hostKeyPub.split(' ').slice(0, 2).join(' ')}\n`);
    // fay reaches the gateway with a registered plain key (no validBefore), gil with a certificate.
    const plain = writeKeyPair(join(gw.dir, 'fay-plain'));
    const fayUser = (await gw.server.core.store.users.byName('fay'))!;
    await gw.server.core.keyRegistry.add({ id: fayUser.id, name: 'fay' }, readFileSync(`${plain}.pub`, 'utf8').trim(), { name: 'test', clientAddress: null });
    const cfgFay = writeSshConfig(join(gw.dir, 'ssh_config_fay'), gw.knownHosts, [
      { alias: 'gw', hostName: gw.host, port: gw.port, user: 'fay', extra: [`IdentityFile ${plain}`, 'IdentitiesOnly yes', 'CertificateFile none', 'LogLevel INFO'] },
      { alias: 'job-1', hostName: 'job-1', port: node.port, user: 'root', key: fay, proxyJump: 'gw' },
    ]);
    const cfgGil = writeSshConfig(join(gw.dir, 'ssh_config_gil'), gw.knownHosts, [
      { alias: 'gw', hostName: gw.host, port: gw.port, user: 'gil', key: gil },
      { alias: 'job-1', hostName: 'job-1', port: node.port, user: 'root', key: gil, proxyJump: 'gw' },
    ]);
    const cpGil = join(gw.dir, 'cm-gil');
    // Foreground ControlMaster sessions: gil's carries a second session below.
    const master = (cfg: string, controlPath: string) => holdSshSession(cfg, 'job-1', ['-o', 'ControlMaster=yes', '-o', `ControlPath=${controlPath}`]);
    const g = master(cfgGil, cpGil);
    gilMaster.kill = g.kill;
    const f = master(cfgFay, join(gw.dir, 'cm-fay'));
    fayMaster.kill = f.kill;
    await f.ready;
    await g.ready;
    const auth = (await gw.audit('gateway.auth')).find((e) => e.actor === 'fay' && e.outcome === 'success');
    assert.ok(auth);
    assert.equal(auth.details.method, 'publickey');

    const exit = await f.exitedWithin(20_000, 'the key login was not ended');
    // Measured from the login's audit record (written just before the session age starts).
    const age = exit.epochMs - auth.at;
    assert.ok(age < MAX_SESSION_MS + WITHIN_MS, `ended ${Math.round(age)} ms after the login`);
    assert.ok(age >= MAX_SESSION_MS, `ended after only ${Math.round(age)} ms`);
    assert.match(exit.stderr, /Received disconnect from .*: Your session has reached its maximum age/);
    const e = await waitFor('gateway.ended for fay', async () => (await gw.audit('gateway.ended')).find((x) => x.actor === 'fay'));
    assert.equal(e.details.reason, 'session_expired');
    assert.equal(e.details.scope, 'connection');
    // A new connection gets a new session: the age limits a connection, not the account.
    const again = await sshF(cfgFay, ['gw', 'hosts']);
    assert.equal(again.code, 0, again.stderr);

    // gil's certificate login is older than MAX_SESSION by now and still carries new sessions.
    const muxed = await sshF(cfgGil, ['-o', 'ControlMaster=no', '-o', `ControlPath=${cpGil}`, 'job-1', 'echo still-here']);
    assert.equal(muxed.code, 0, muxed.stderr);
    assert.match(muxed.stdout, /still-here/);
    assert.equal(g.child.exitCode, null);
  } finally {
    fayMaster.kill();
    gilMaster.kill();
    await node.stop();
    await gw.stop();
  }
});
