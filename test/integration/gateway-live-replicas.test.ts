/**
 * Ending live sessions on every replica (issue 10, item 5): two `airlock serve` replicas on one
 * PostgreSQL database; a researcher's ControlMaster session to a target runs through replica B; the
 * certificate is revoked through replica A (and, in a second round, a target is removed through A).
 * Replica B learns of it from the database alone and ends the session within a second.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { POSTGRES_SKIP_REASON } from '../harness/postgres.ts';
import { waitFor } from '../harness/processes.ts';
import { startTargetSshd, writeSshConfig, type TestGateway } from '../harness/gateway.ts';
import { holdSshSession } from '../harness/held-ssh-session.ts';
import { startGatewayReplicas, type Replicas } from '../harness/replicas.ts';

/** Generous for a busy 2-core machine. */
const WITHIN_MS = 1_500;

test('a revocation and a target removal on replica A end the sessions running through replica B within a second', { skip: POSTGRES_SKIP_REASON }, async () => {
  let replicas: Replicas<TestGateway> | undefined;
  const kills: (() => void)[] = [];
  let node: Awaited<ReturnType<typeof startTargetSshd>> | undefined;
  try {
    replicas = await startGatewayReplicas({ AIRLOCK_GATEWAY_ALLOW_LOOPBACK_TARGETS: '1', AIRLOCK_GATEWAY_PENALTIES: 'off' });
    const { a, b } = replicas;
    node = await startTargetSshd(a, ['hal', 'ivy']);
    const hal = await a.user('hal');
    const ivy = await a.user('ivy');
    await a.project('p', ['hal', 'ivy']);
    await a.target({ name: 'job-hal', project: 'p', host: '127.0.0.1', port: node.port, loginUser: 'root' });
    await a.target({ name: 'job-ivy', project: 'p', host: '127.0.0.1', port: node.port, loginUser: 'root' });
    const knownHosts = join(b.dir, 'known_hosts_replicas');
    const nodeKey = node.hostKeyPub.split(' ').slice(0, 2).join(' ');
    writeFileSync(knownHosts, b.server.gateway.trust().knownHostsLine + '\n');
    appendFileSync(knownHosts, `[job-hal]:${node.port} ${nodeKey}\n[job-ivy]:${node.port} ${nodeKey}\n`);
    const cfg = (u: typeof hal, target: string) => writeSshConfig(join(b.dir, `ssh_config_${u.name}`), knownHosts, [
      { alias: 'gw-b', hostName: b.host, port: b.port, user: u.name, key: u, extra: ['LogLevel INFO'] },
      { alias: target, hostName: target, port: node!.port, user: 'root', key: u, proxyJump: 'gw-b', extra: ['ControlMaster yes', `ControlPath ${join(b.dir, `cm-${u.name}`)}`] },
    ]);

    const m1 = holdSshSession(cfg(hal, 'job-hal'), 'job-hal');
    kills.push(m1.kill);
    const m2 = holdSshSession(cfg(ivy, 'job-ivy'), 'job-ivy');
    kills.push(m2.kill);
    await Promise.all([m1.ready, m2.ready]);

    await a.server.core.ca.revoke(hal.serial, { actor: 'test' });
    const revokedAt = performance.now();
    const e1 = await m1.exitedWithin(15_000, 'the session on replica B was not ended');
    assert.ok(e1.at - revokedAt < WITHIN_MS, `ended ${Math.round(e1.at - revokedAt)} ms after the revocation on A`);
    assert.match(e1.stderr, /Your certificate has been revoked/);

    await a.server.core.inventory.removeTarget('job-ivy', { name: 'test', clientAddress: null });
    const removedAt = performance.now();
    const e2 = await m2.exitedWithin(15_000, 'the session on replica B was not ended');
    assert.ok(e2.at - removedAt < WITHIN_MS, `ended ${Math.round(e2.at - removedAt)} ms after the removal on A`);
    assert.match(e2.stderr, /Target job-ivy was removed/);

    // The audit records come from replica B, the one that held the connections (one shared table).
    const ended = await waitFor('two gateway.ended records', async () => {
      const list = await b.audit('gateway.ended');
      return list.length >= 2 ? list : undefined;
    });
    assert.deepEqual(ended.map((e) => `${e.actor}:${String(e.details.reason)}`).sort(), ['hal:revoked', 'ivy:not_a_target']);
  } finally {
    for (const k of kills) k();
    await node?.stop();
    await replicas?.stop();
  }
});
