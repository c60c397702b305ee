/**
 * `airlock admin job add|list|renew|end|events` against a data directory: a job is registered with a
 * port from AIRLOCK_JOB_PORTS and the ready command, renewed, listed, ended (then gone from the live
 * list), and its (empty) log read; without AIRLOCK_JOB_PORTS the command says how to turn jobs on.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { airlock } from '../harness/airlock.ts';
import { run } from '../harness/processes.ts';

const dir = mkdtempSync(join(tmpdir(), 'airlock-cli-jobs-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const env = { AIRLOCK_JOB_PORTS: '40100-40101', AIRLOCK_SSH_PUBLIC: 'gw.example.org:2222', AIRLOCK_HTTP_LISTEN: '127.0.0.1:0' };
const admin = (args: string[], extraEnv: NodeJS.ProcessEnv = env) => airlock(['admin', '--data-dir', join(dir, 'data'), ...args], { env: extraEnv });

test('admin job add, list, renew, events, end', async () => {
  assert.equal((await admin(['project', 'add', 'genomics'])).code, 0);
  const key = join(dir, 'host_key');
  assert.equal((await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key])).code, 0);
  const added = await admin(['job', 'add', 'job-7', '--project', 'genomics', '--host', '10.0.0.7', '--user', 'alice', '--host-key', `${key}.pub`, '--expires', '2h', '--service', 'jupyter=8888', '--allow-cidr', '192.0.2.0/24', '--json']);
  assert.equal(added.code, 0, added.stderr);
  const job = JSON.parse(added.stdout) as { id: string; port: number; command: string; client_cidrs: string[] };
  assert.equal(job.port, 40100);
  assert.equal(job.command, 'ssh -p 40100 -L 8888:localhost:8888 gw.example.org');
  assert.deepEqual(job.client_cidrs, ['192.0.2.0/24']);

  const renewed = await admin(['job', 'renew', job.id, '--expires', '4h']);
  assert.equal(renewed.code, 0, renewed.stderr);
  assert.match(renewed.stderr, /now lives until/);
  const listed = await admin(['job', 'list']);
  assert.match(listed.stdout, /job-7\s+genomics\s+40100/);
  const events = await admin(['job', 'events', job.id]);
  assert.equal(events.code, 0);
  assert.match(events.stderr, /No connections yet/);
  const ended = await admin(['job', 'end', job.id]);
  assert.equal(ended.code, 0, ended.stderr);
  assert.match(ended.stderr, /has ended; port 40100 is in quarantine/);
  assert.match((await admin(['job', 'list'])).stderr, /No jobs/);
  // The ended job's port is in quarantine: the next job gets the other one.
  const next = await admin(['job', 'add', 'job-8', '--project', 'genomics', '--host', '10.0.0.8', '--user', 'alice', '--host-key', `${key}.pub`, '--expires', '1h', '--json']);
  assert.equal((JSON.parse(next.stdout) as { port: number }).port, 40101);

  const off = await admin(['job', 'list', '--all'], { AIRLOCK_HTTP_LISTEN: '127.0.0.1:0' });
  assert.equal(off.code, 0);
  const refused = await admin(['job', 'add', 'job-9', '--project', 'genomics', '--host', '10.0.0.9', '--user', 'alice', '--host-key', `${key}.pub`, '--expires', '1h'], { AIRLOCK_HTTP_LISTEN: '127.0.0.1:0' });
  assert.equal(refused.code, 7);
  assert.match(refused.stderr, /AIRLOCK_JOB_PORTS/);
});
