/**
 * Per-job endpoints end to end (issue 13): an orchestrator registers a job through the API with a
 * `jobs:write` token; stock OpenSSH logs in with `ssh -p PORT alice@gateway` and lands on a real sshd as
 * the job (through the terminating proxy), with exit codes; scp with a matching SHA-256, `-L` to the
 * job's service, PuTTY's plink with `-P PORT`; a client outside the job's CIDRs is cut
 * before the banner (a raw socket bound to 127.0.0.2); a user who does not own the job is refused;
 * ending the job closes a live session within a second, the port refuses, and the job log lists each
 * connection with address and port (GET /api/v1/jobs/{id}/events). A member removed from the project
 * loses their live session on its job within a second; agent forwarding reaches the job only where the
 * job (and the server) allow it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { airlock } from '../harness/airlock.ts';
import { startHttpService, startTestGateway, type TestGateway, type UserKey } from '../harness/gateway.ts';
import { freePort, freePortRange, run, waitFor } from '../harness/processes.ts';
import { startSshd, type TestSshd } from '../harness/sshd.ts';
import { startSshAgent } from '../harness/ssh-agent.ts';
import { parsePublicKey } from '../../src/ssh/keys.ts';
import { fetchJobs, jobSshCommand } from '../../src/cli/jobs-info.ts';

let gw: TestGateway;
let job: TestSshd;
let alice: UserKey;
let bob: UserKey;
let token: string;
let hostCert: string;
let portBase: number;
let web: Awaited<ReturnType<typeof startHttpService>>;

before(async () => {
  portBase = await freePortRange(4);
  gw = await startTestGateway({ AIRLOCK_GATEWAY_PENALTIES: 'off', AIRLOCK_JOB_PORTS: `${portBase}-${portBase + 3}`, AIRLOCK_JOB_PORT_QUARANTINE: '1h', AIRLOCK_JOB_FORWARDING: 'agent' });
  alice = await gw.user('alice');
  bob = await gw.user('bob');
  await gw.project('genomics', ['alice', 'bob']);
  const core = gw.server.core;
  token = (await core.apiTokens.create({ account: 'slurm', scopes: ['jobs:write'], projectName: 'genomics', ttlMs: 3600_000 }, { name: 'test', clientAddress: null })).token;
  // The job: a real sshd trusting the user CA, with a host certificate from the host CA.
  const nodeDir = join(gw.dir, 'job');
  mkdirSync(nodeDir, { recursive: true });
  const cfg = await airlock(['admin', '--data-dir', gw.dataDir, 'sshd-config', '--output-dir', nodeDir], { env: { AIRLOCK_HTTP_LISTEN: '127.0.0.1:0' } });
  assert.equal(cfg.code, 0, cfg.stderr);
  const hostKey = join(nodeDir, 'ssh_host_ed25519_key');
  assert.equal((await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey])).code, 0);
  const cert = await core.ca.issueHostCertificate({ publicKey: parsePublicKey(readFileSync(`${hostKey}.pub`, 'utf8').trim()), principals: ['job-1', '127.0.0.1'], ttlMs: 24 * 3600_000, actor: 'test' });
  hostCert = cert.line;
  writeFileSync(`${hostKey}-cert.pub`, cert.line + '\n');
  job = await startSshd(nodeDir, [...cfg.stdout.trim().split('\n'), `HostCertificate ${hostKey}-cert.pub`, 'AllowTcpForwarding yes', 'Subsystem sftp internal-sftp']);
  web = await startHttpService('127.0.0.1', 'hello from jupyter');
});

after(async () => {
  await web?.stop();
  await job?.stop();
  await gw?.stop();
});

const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
  const res = await fetch(`${gw.server.httpUrl}${path}`, {
    method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
};

/** known_hosts for the job port: the gateway's own host key, at [127.0.0.1]:PORT. */
function knownHostsFor(port: number): string {
  const line = readFileSync(gw.knownHosts, 'utf8').trim();
  const path = join(gw.dir, `known_hosts_${port}`);
  writeFileSync(path, `[127.0.0.1]:${port} ${line.split(' ').slice(1).join(' ')}\n`);
  return path;
}

const sshArgs = (u: UserKey, port: number, command: string[]): string[] => [
  '-F', '/dev/null', '-p', String(port), '-i', u.key, '-o', `CertificateFile=${u.cert}`, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes',
  '-o', `UserKnownHostsFile=${knownHostsFor(port)}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'LogLevel=ERROR', `${u.name}@127.0.0.1`, ...command,
];
const ssh = (u: UserKey, port: number, command: string[]) => run('ssh', sshArgs(u, port, command), { env: { ...process.env, SSH_AUTH_SOCK: '' }, timeoutMs: 30_000 });

test('a job registered through the API: its owner gets a shell with exit codes, others and outside networks are refused, ending it closes a live session and the port, and the job log lists every connection', async () => {
  const created = await api('POST', '/api/v1/jobs', {
    name: 'job-1', owners: ['alice'], host: '127.0.0.1', ssh_port: job.port, login_user: 'root',
    client_cidrs: ['127.0.0.1/32'], services: [`jupyter=${web.port}`], host_key: hostCert, expires_in: '2h',
  });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  const id = created.json.id as string;
  const port = created.json.port as number;
  assert.ok(port >= portBase && port <= portBase + 3);
  assert.equal(created.json.command, `ssh -p ${port} -L ${web.port}:localhost:${web.port} 127.0.0.1`);
  await waitFor('the job port listens', () => (gw.server.gateway.jobPorts().get(id) === port ? true : undefined), 5_000);

  // The lobby on the main port shows the owner the ready command.
  const lobby = await run('ssh', [
    '-F', '/dev/null', '-p', String(gw.port), '-i', alice.key, '-o', `CertificateFile=${alice.cert}`, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes',
    '-o', `UserKnownHostsFile=${gw.knownHosts}`, '-o', 'StrictHostKeyChecking=yes', 'alice@127.0.0.1', 'hosts',
  ], { env: { ...process.env, SSH_AUTH_SOCK: '' }, timeoutMs: 30_000 });
  assert.match(lobby.stdout, new RegExp(`ssh -p ${port} -L ${web.port}:localhost:${web.port} alice@127\\.0\\.0\\.1`), lobby.stderr);

  // airlock hosts (the CLI) lists it for alice with the same command; bob, no owner, does not see it.
  const sessionOf = async (name: string) => (await gw.server.core.tokens.issue((await gw.server.core.store.users.byName(name))!, { kind: 'session', ttlMs: 600_000 })).token;
  const forAlice = await fetchJobs({ server: gw.server.httpUrl, token: await sessionOf('alice') });
  assert.deepEqual(forAlice.map((j) => jobSshCommand(j, 'alice')), [`ssh -p ${port} -L ${web.port}:localhost:${web.port} alice@127.0.0.1`]);
  assert.deepEqual(await fetchJobs({ server: gw.server.httpUrl, token: await sessionOf('bob') }), []);

  // The owner lands in the job, with its exit status.
  const ok = await ssh(alice, port, ['echo', 'in-the-job', ';', 'exit', '3']);
  assert.equal(ok.stdout.trim(), 'in-the-job', ok.stderr);
  assert.equal(ok.code, 3);

  // scp moves 64 MiB up and sftp brings it back, each with a matching SHA-256; -L reaches the job's service.
  const file = join(gw.dir, 'payload.bin');
  const payload = randomBytes(64 * 1024 * 1024);
  const expected = createHash('sha256').update(payload).digest('hex');
  writeFileSync(file, payload);
  const scpArgs = sshArgs(alice, port, []).filter((a) => a !== '-p' && a !== String(port) && a !== 'alice@127.0.0.1');
  const remote = `/tmp/airlock-job-${process.pid}.bin`;
  const up = await run('scp', ['-P', String(port), ...scpArgs, file, `alice@127.0.0.1:${remote}`], { env: { ...process.env, SSH_AUTH_SOCK: '' }, timeoutMs: 120_000 });
  assert.equal(up.code, 0, up.stderr);
  const sum = await ssh(alice, port, ['sha256sum', remote]);
  assert.equal(sum.stdout.split(' ')[0], expected);
  const back = join(gw.dir, 'payload.back');
  const batch = join(gw.dir, 'sftp.batch');
  writeFileSync(batch, `get ${remote} ${back}\n`);
  const down = await run('sftp', ['-P', String(port), ...scpArgs, '-b', batch, 'alice@127.0.0.1'], { env: { ...process.env, SSH_AUTH_SOCK: '' }, timeoutMs: 120_000 });
  assert.equal(down.code, 0, down.stderr);
  assert.equal(createHash('sha256').update(readFileSync(back)).digest('hex'), expected);
  await ssh(alice, port, ['rm', '-f', remote]);
  const localPort = await freePort();
  const tunnel = spawn('ssh', sshArgs(alice, port, ['-N', '-o', 'ExitOnForwardFailure=yes', '-L', `127.0.0.1:${localPort}:localhost:${web.port}`]), { stdio: 'ignore', env: { ...process.env, SSH_AUTH_SOCK: '' } });
  try {
    const body = await waitFor('the tunnel to the job\'s service', async () => {
      try {
        return await (await fetch(`http://127.0.0.1:${localPort}/lab`)).text();
      } catch {
        return undefined;
      }
    }, 15_000, 100);
    assert.match(body, /hello from jupyter/);
  } finally {
    tunnel.kill();
  }

  // PuTTY's plink with -P PORT (its key as a .ppk, the certificate beside it).
  if (spawnSync('plink', ['-V']).error === undefined) {
    const ppk = join(gw.dir, 'alice.ppk');
    assert.equal((await run('puttygen', [alice.key, '-O', 'private', '-o', ppk])).code, 0);
    const fp = (await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', knownHostsFor(port)])).stdout.split(' ')[1] ?? '';
    const plink = await run('plink', ['-batch', '-ssh', '-P', String(port), '-i', ppk, '-cert', alice.cert, '-hostkey', fp, 'alice@127.0.0.1', 'echo from-plink; exit 5'], { timeoutMs: 30_000 });
    assert.equal(plink.stdout.replace(/\r/g, ''), 'from-plink\n', plink.stderr);
    assert.equal(plink.code, 5);
  }

  // Another member of the project who does not own the job is refused, with the reason.
  const refused = await ssh(bob, port, ['true']);
  assert.equal(refused.code, 255);
  assert.match(refused.stderr, /bob may not enter job job-1: only its owners may/);

  // A client outside the job's CIDRs: closed before a single byte of SSH (not even the banner).
  const received = await new Promise<number>((resolve, reject) => {
    let bytes = 0;
    const s = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' });
    s.on('data', (d) => (bytes += d.length));
    s.on('error', reject);
    s.on('close', () => resolve(bytes));
  });
  assert.equal(received, 0, 'no SSH identification string was sent');

  // A live session is closed within a second of the job's end, with one line; the port then refuses.
  const live = spawn('ssh', sshArgs(alice, port, ['echo', 'ready', ';', 'sleep', '60']), { env: { ...process.env, SSH_AUTH_SOCK: '' } });
  let out = '';
  let err = '';
  live.stdout.on('data', (d: Buffer) => (out += d.toString()));
  live.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => live.once('exit', (code) => resolve(code)));
  try {
    await waitFor('the live session is up', () => (out.includes('ready') ? true : undefined), 20_000);
    const ended = await api('DELETE', `/api/v1/jobs/${id}`);
    assert.equal(ended.status, 200, JSON.stringify(ended.json));
    const t0 = process.hrtime.bigint();
    await Promise.race([exited, new Promise((_, reject) => setTimeout(() => reject(new Error('the session outlived its job')), 3_000))]);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.ok(ms < 1_500, `closed after ${ms} ms`);
    assert.match(err, /job job-1 has ended/);
  } finally {
    live.kill();
  }
  const refusedConnect = await new Promise<string>((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.on('connect', () => { s.destroy(); resolve('connected'); });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
  assert.equal(refusedConnect, 'ECONNREFUSED');

  // The job log: each of these connections with user, address, port and outcome.
  const events = await waitFor('the job log is complete', async () => {
    const r = await api('GET', `/api/v1/jobs/${id}/events`);
    const list = r.json.events as { user: string | null; client_address: string; port: number; outcome: string; bytes_in: number; bytes_out: number; ended_at: string | null }[];
    return list.filter((e) => e.ended_at !== null).length === list.length && list.length >= 4 ? list : undefined;
  }, 10_000);
  const summary = events.map((e) => `${e.user ?? '-'} ${e.client_address} ${e.port} ${e.outcome}`);
  assert.ok(summary.includes(`alice 127.0.0.1 ${port} success`), summary.join('\n'));
  assert.ok(summary.includes(`bob 127.0.0.1 ${port} refused_owner`), summary.join('\n'));
  assert.ok(summary.includes(`- 127.0.0.2 ${port} refused_cidr`), summary.join('\n'));
  assert.ok(summary.includes(`alice 127.0.0.1 ${port} ended`), summary.join('\n'));
  assert.ok(events.some((e) => e.outcome === 'success' && e.bytes_out > 0), 'bytes are counted');

  // The session certificates minted for the job are revoked with it.
  const aliceId = (await gw.server.core.store.users.byName('alice'))!.id;
  const minted = await waitFor('the minted certificates are revoked', async () => {
    const list = (await gw.server.core.store.certificates.listByUser(aliceId)).filter((c) => c.method === 'job-session');
    return list.length >= 2 && list.every((c) => c.revokedAt !== null) ? list : undefined;
  }, 5_000);
  assert.ok(minted.every((c) => c.revokeReason === 'job job-1 ended'));
});

test('a token without jobs:write cannot register jobs; a job-scoped token cannot reach another project', async () => {
  const core = gw.server.core;
  const readOnly = (await core.apiTokens.create({ account: 'reader', scopes: ['targets:read'], projectName: 'genomics', ttlMs: 3600_000 }, { name: 'test', clientAddress: null })).token;
  const res = await fetch(`${gw.server.httpUrl}/api/v1/jobs`, {
    method: 'POST', headers: { authorization: `Bearer ${readOnly}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'x', host: '127.0.0.1', login_user: 'root', host_key: hostCert, expires_in: '1h' }),
  });
  assert.equal(res.status, 403);
  await core.inventory.addProject('physics', { name: 'test', clientAddress: null });
  const other = await api('POST', '/api/v1/jobs', { name: 'x', project: 'physics', host: '127.0.0.1', login_user: 'root', host_key: hostCert, expires_in: '1h' });
  assert.equal(other.status, 403);
});

/** `ssh … sleep 60` through a job port, with its output so far and its exit. */
function liveSession(u: UserKey, port: number): { out: () => string; err: () => string; exited: Promise<number | null>; kill(): void } {
  const child = spawn('ssh', sshArgs(u, port, ['echo', 'ready', ';', 'sleep', '60']), { env: { ...process.env, SSH_AUTH_SOCK: '' } });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { out: () => out, err: () => err, exited, kill: () => child.kill() };
}

test('a member removed from the project loses their live session on its job within a second, with one line, audited; the others keep theirs; a disabled user too', async () => {
  const created = await api('POST', '/api/v1/jobs', {
    name: 'job-2', host: '127.0.0.1', ssh_port: job.port, login_user: 'root', host_key: hostCert, expires_in: '2h',
  });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  const id = created.json.id as string;
  const port = created.json.port as number;
  await waitFor('the job port listens', () => (gw.server.gateway.jobPorts().get(id) === port ? true : undefined), 5_000);
  const bobs = liveSession(bob, port);
  const alices = liveSession(alice, port);
  try {
    await waitFor('both sessions are up', () => (bobs.out().includes('ready') && alices.out().includes('ready') ? true : undefined), 20_000);
    const t0 = process.hrtime.bigint();
    await gw.server.core.inventory.removeMember('genomics', 'bob', { name: 'test', clientAddress: null });
    const code = await Promise.race([bobs.exited, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('bob\'s session outlived his membership')), 5_000))]);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    console.log(`# bob's session on the job closed ${ms.toFixed(0)} ms after his removal from the project`);
    assert.ok(ms < 1_000, `closed after ${ms} ms`);
    assert.equal(code, 255);
    assert.match(bobs.err(), /bob no longer owns job job-2 \(removed from its owners or its project\); this connection is closed\./);
    // alice, still a member, is untouched.
    const stillUp = await Promise.race([alices.exited.then(() => 'exited'), new Promise<string>((r) => setTimeout(() => r('up'), 1_000))]);
    assert.equal(stillUp, 'up', alices.err());
    const ended = (await gw.audit('gateway.ended')).filter((e) => e.actor === 'bob');
    assert.equal(ended.at(-1)?.details.reason, 'not_job_owner');
    // He cannot come back either.
    const again = await ssh(bob, port, ['true']);
    assert.equal(again.code, 255);
    assert.match(again.stderr, /bob may not enter job job-2/);
    const events = await waitFor('the job log has bob\'s session', async () => {
      const list = (await api('GET', `/api/v1/jobs/${id}/events`)).json.events as { user: string | null; outcome: string; reason: string | null }[];
      const e = list.find((x) => x.user === 'bob' && x.outcome === 'revoked');
      return e === undefined ? undefined : list;
    }, 5_000);
    assert.equal(events.find((x) => x.user === 'bob' && x.outcome === 'revoked')?.reason, 'no longer an owner of the job');

    // A disabled user's sessions on a job end as well (the login itself no longer holds).
    const t1 = process.hrtime.bigint();
    await gw.server.core.userAdmin.disable('alice', { name: 'test', clientAddress: null });
    await Promise.race([alices.exited, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('alice\'s session outlived her account')), 5_000))]);
    const disabledMs = Number(process.hrtime.bigint() - t1) / 1e6;
    console.log(`# alice's session on the job closed ${disabledMs.toFixed(0)} ms after she was disabled`);
    assert.ok(disabledMs < 1_000, `closed after ${disabledMs} ms`);
    assert.match(alices.err(), /account is disabled|certificate has been revoked/);
  } finally {
    if ((await gw.server.core.store.users.byName('alice'))?.disabled === true) {
      await gw.server.core.userAdmin.enable('alice', { name: 'test', clientAddress: null });
      alice = await gw.certify(alice); // disabling revoked her certificate
    }
    bobs.kill();
    alices.kill();
    await gw.server.core.inventory.addMember('genomics', 'bob', 'member', { name: 'test', clientAddress: null });
  }
});

test('agent forwarding through a job port: only for a job registered with it (the server allowing it), refused and audited otherwise', async () => {
  const agent = await startSshAgent(gw.dir, 'alice-agent');
  try {
    // The server allows agent forwarding (AIRLOCK_JOB_FORWARDING=agent), not X11.
    const x11 = await api('POST', '/api/v1/jobs', {
      name: 'job-x', host: '127.0.0.1', ssh_port: job.port, login_user: 'root', host_key: hostCert, expires_in: '1h', forwarding: ['x11'],
    });
    assert.equal(x11.status, 403, JSON.stringify(x11.json));
    assert.match(String((x11.json.error as { message?: string } | undefined)?.message ?? JSON.stringify(x11.json)), /AIRLOCK_JOB_FORWARDING/);
    const created = await api('POST', '/api/v1/jobs', {
      name: 'job-3', owners: ['alice'], host: '127.0.0.1', ssh_port: job.port, login_user: 'root', host_key: hostCert, expires_in: '1h', forwarding: ['agent'],
    });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    assert.deepEqual(created.json.forwarding, ['agent']);
    const port = created.json.port as number;
    await waitFor('the job port listens', () => (gw.server.gateway.jobPorts().get(created.json.id as string) === port ? true : undefined), 5_000);
    const withAgent = (p: number) => run('ssh', ['-A', ...sshArgs(alice, p, ['ssh-add', '-l'])], { env: { ...process.env, SSH_AUTH_SOCK: agent.sock }, timeoutMs: 30_000 });
    const r = await withAgent(port);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes(`${agent.fingerprint} alice-agent (ED25519)`), r.stdout);

    // job-2 was registered without it: the job gets no agent, and the request is audited.
    const job2 = ((await api('GET', '/api/v1/jobs')).json.jobs as { name: string; port: number }[]).find((j) => j.name === 'job-2')!;
    const refused = await withAgent(job2.port);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /Could not open a connection to your authentication agent/);
    const denied = (await gw.audit('job.proxy.refused')).filter((e) => e.actor === 'alice' && e.details.what === 'auth-agent');
    assert.ok(denied.length >= 1);
  } finally {
    agent.stop();
  }
});
