/**
 * Live gateway connections across replicas (issue 12 item 12): two `airlock serve` replicas on one
 * PostgreSQL database; a researcher holds an `ssh -J` session through replica B. Replica A's operator
 * service lists it (who, from where, which channel, bytes) from the database alone, and ending it
 * there makes replica B disconnect the real ssh within a second, with the reason and an audit record
 * on both sides. When B stops, its rows leave the list.
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
import { airlock } from '../harness/airlock.ts';

/** Generous for a busy 2-core machine (the replica polls every 500 ms). */
const WITHIN_MS = 1_500;

test('an operator on replica A lists and ends a connection held by replica B within a second', { skip: POSTGRES_SKIP_REASON }, async () => {
  let replicas: Replicas<TestGateway> | undefined;
  let kill: (() => void) | undefined;
  let node: Awaited<ReturnType<typeof startTargetSshd>> | undefined;
  try {
    replicas = await startGatewayReplicas({ AIRLOCK_GATEWAY_ALLOW_LOOPBACK_TARGETS: '1', AIRLOCK_GATEWAY_PENALTIES: 'off' });
    const { a, b, db } = replicas;
    node = await startTargetSshd(a, ['hal']);
    const hal = await a.user('hal');
    await a.project('p', ['hal']);
    await a.target({ name: 'job-hal', project: 'p', host: '127.0.0.1', port: node.port, loginUser: 'root' });
    const knownHosts = join(b.dir, 'known_hosts_live');
    writeFileSync(knownHosts, b.server.gateway.trust().knownHostsLine + '\n');
    appendFileSync(knownHosts, `[job-hal]:${node.port} ${node.hostKeyPub.split(' ').slice(0, 2).join(' ')}\n`);
    const cfg = writeSshConfig(join(b.dir, 'ssh_config_hal'), knownHosts, [
      { alias: 'gw-b', hostName: b.host, port: b.port, user: 'hal', key: hal, extra: ['LogLevel INFO'] },
      { alias: 'job-hal', hostName: 'job-hal', port: node.port, user: 'root', key: hal, proxyJump: 'gw-b' },
    ]);
    const session = holdSshSession(cfg, 'job-hal');
    kill = session.kill;
    await session.ready;

    // Replica A knows of the connection only through the database.
    const seen = await waitFor('hal\'s connection listed on replica A with its channel', async () => {
      const list = await a.server.core.liveConnections.list();
      const c = list.find((x) => x.userName === 'hal');
      return c !== undefined && c.channels.some((ch) => ch.target === 'job-hal') ? c : undefined;
    }, 10_000);
    assert.equal(seen.clientAddress, '127.0.0.1');
    assert.equal(seen.method, 'certificate');
    assert.equal(seen.serial, hal.serial.toString());
    assert.ok(seen.bytesIn > 0 && seen.bytesOut > 0, 'bytes are counted');
    assert.notEqual(seen.replicaId, undefined);

    // `airlock admin connections list` reads the same rows (one service for CLI and pages).
    const cli = await airlock(['admin', 'connections', 'list', '--json', '--data-dir', a.dataDir], { env: { AIRLOCK_DATABASE_URL: db.url } });
    assert.equal(cli.code, 0, cli.stderr);
    const listed = JSON.parse(cli.stdout) as { id: string; user: string; channels: { target: string }[] }[];
    assert.deepEqual(listed.map((c) => [c.id, c.user, c.channels.map((ch) => ch.target).join()]), [[seen.id, 'hal', 'job-hal']]);

    await a.server.core.liveConnections.end(seen.id, { name: 'ops', clientAddress: '127.0.0.9' });
    const askedAt = performance.now();
    const { at: endedAt, stderr } = await session.exitedWithin(15_000, 'the connection on replica B was not ended');
    assert.ok(endedAt - askedAt < WITHIN_MS, `ended ${Math.round(endedAt - askedAt)} ms after the request on A`);
    assert.match(stderr, /An operator ended this connection/);

    const ended = await waitFor('the gateway.ended record from replica B', async () => (await b.audit('gateway.ended')).find((e) => e.actor === 'hal'));
    assert.equal(ended.details.reason, 'ended_by_operator');
    assert.equal(ended.details.by, 'ops');
    const asked = (await a.audit('admin.connection_end'))[0]!;
    assert.equal(asked.actor, 'ops');
    assert.equal(asked.details.user, 'hal');
    await waitFor('the ended connection leaves the list', async () => ((await a.server.core.liveConnections.list()).length === 0 ? true : undefined));
    // Ending it again is refused: it is gone.
    await assert.rejects(a.server.core.liveConnections.end(seen.id, { name: 'ops', clientAddress: null }), /no longer open/);
  } finally {
    kill?.();
    await node?.stop();
    await replicas?.stop();
  }
});
