/**
 * Per-job ports across replicas (issue 13): two gateway replicas on one PostgreSQL database. A job
 * registered through replica A is served on its port by replica B within a second (B's listener answers
 * with the SSH banner), and a job ended through B stops accepting on A within a second. The replicas
 * listen on different loopback addresses (127.0.0.1 and 127.0.0.3), as two hosts would.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { TestGateway } from '../harness/gateway.ts';
import { freePortRange, waitFor } from '../harness/processes.ts';
import { POSTGRES_SKIP_REASON } from '../harness/postgres.ts';
import { startGatewayReplicas, type Replicas } from '../harness/replicas.ts';

/** Generous for a busy 2-core machine; the listeners reconcile every 500 ms. */
const WITHIN_MS = 1_500;

let replicas: Replicas<TestGateway> | undefined;
let a: TestGateway;
let b: TestGateway;

before(async () => {
  if (POSTGRES_SKIP_REASON) return;
  const base = await freePortRange(4);
  replicas = await startGatewayReplicas({ AIRLOCK_JOB_PORTS: `${base}-${base + 3}`, AIRLOCK_GATEWAY_PENALTIES: 'off' }, { AIRLOCK_SSH_LISTEN: '127.0.0.3:0', AIRLOCK_HTTP_LISTEN: '127.0.0.3:0' });
  ({ a, b } = replicas);
  await a.user('alice');
  await a.project('genomics', ['alice']);
});

after(async () => {
  await replicas?.stop();
});

/** The first line a listener sends, the connection error's code, or `closed` / `silent` (bounded). */
function banner(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      resolve('silent');
    }, 5_000);
    const done = (v: string): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(v);
    };
    s.once('data', (d: Buffer) => done(d.toString('latin1').split('\r\n')[0] ?? ''));
    s.once('error', (e: NodeJS.ErrnoException) => done(e.code ?? 'error'));
    s.once('close', () => done('closed'));
  });
}

test('a job registered through one replica is served by the other within a second, and ended on both', { skip: POSTGRES_SKIP_REASON }, async () => {
  const actor = { name: 'test', clientAddress: null };
  const created = await a.server.core.jobs.create({
    name: 'job-r', projectName: 'genomics', owners: [], host: '127.0.0.1', sshPort: 22, loginUser: 'root', clientCidrs: [], services: [],
    hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl job', expiresAt: Date.now() + 3600_000,
  }, actor);
  const t0 = performance.now();
  await waitFor('replica B listens on the job port', () => (b.server.gateway.jobPorts().get(created.id) === created.port ? true : undefined), 5_000, 20);
  assert.equal(a.server.gateway.jobPorts().get(created.id), created.port, 'replica A listens too');
  assert.ok(performance.now() - t0 < WITHIN_MS, `B listened after ${Math.round(performance.now() - t0)} ms`);
  assert.match(await banner('127.0.0.3', created.port), /^SSH-2\.0-/);
  assert.match(await banner('127.0.0.1', created.port), /^SSH-2\.0-/);

  await b.server.core.jobs.end(created.id, actor);
  const t1 = performance.now();
  for (const [name, host] of [['A', '127.0.0.1'], ['B', '127.0.0.3']] as const) {
    await waitFor(`replica ${name} stops accepting`, async () => ((await banner(host, created.port)) === 'ECONNREFUSED' ? true : undefined), 5_000, 20);
    assert.ok(performance.now() - t1 < WITHIN_MS, `${name} stopped after ${Math.round(performance.now() - t1)} ms`);
  }
});
