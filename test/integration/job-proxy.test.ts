/**
 * The per-job terminating proxy (src/gateway/job-proxy.ts) for real: the OpenSSH client and PuTTY's
 * plink log in to a small ssh2 server that hands the connection to the proxy, and the proxy logs in to
 * a real sshd as the job with a session certificate from Airlock's CA (test/harness/job-proxy-world.ts).
 * Shell, pty and window changes, exec with exit status and exit signal, env, scp and sftp of 64 MiB,
 * -L to a service on the job, a swapped host key (checklist item 12), refused X11/agent/forwards, and
 * flow control against a stalled reader on either side.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type { ClientChannel } from 'ssh2';
import { startJobProxyWorld, type JobProxyWorld } from '../harness/job-proxy-world.ts';
import { startSshAgent } from '../harness/ssh-agent.ts';
import { startHttpService } from '../harness/gateway.ts';
import { freePort, run, waitFor } from '../harness/processes.ts';
import { parsePublicKey, publicKeyFromKeyObject } from '../../src/ssh/keys.ts';
import { fingerprintSha256 } from '../../src/ssh/fingerprint.ts';

let w: JobProxyWorld;
let web: Awaited<ReturnType<typeof startHttpService>>;
let files: string;

before(async () => {
  w = await startJobProxyWorld({ sshdExtra: ['X11Forwarding yes'] });
  web = await startHttpService('127.0.0.1', 'hello from jupyter');
  files = join(w.dir, 'files');
  mkdirSync(files, { recursive: true });
});

after(async () => {
  await web?.stop();
  await w?.stop();
});

const ssh = (args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}) =>
  run('ssh', [...w.sshArgs(), ...args], { timeoutMs: 60_000, ...opts });

/** `p`, or a failure naming `what` after `ms` (a stalled proxy must fail the test, not hang it). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing for ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** alice with ssh2's client (for what the OpenSSH client cannot script: window changes, signals, stalls). */
async function researcher(): Promise<{ client: ssh2.Client; wire: Socket }> {
  const client = new ssh2.Client();
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve());
    client.once('error', reject);
    client.connect({ host: '127.0.0.1', port: w.front.port, username: 'alice', privateKey: readFileSync(w.key), hostVerifier: () => true, readyTimeout: 15_000 });
  });
  return { client, wire: (client as unknown as { _sock: Socket })._sock };
}

function exec(client: ssh2.Client, command: string, opts: ssh2.ExecOptions = {}): Promise<ClientChannel> {
  return new Promise((resolve, reject) => client.exec(command, opts, (err, ch) => (err ? reject(err) : resolve(ch))));
}

const sha256File = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

test('a shell and exec commands get their exit codes through the proxy (OpenSSH)', async () => {
  const shell = await ssh(['-T'], { input: 'echo in-the-job; whoami; exit 3\n' });
  assert.equal(shell.code, 3, shell.stderr);
  assert.equal(shell.stdout, 'in-the-job\nroot\n');
  const cmd = await ssh(['echo out; echo err >&2; exit 7']);
  assert.equal(cmd.code, 7);
  assert.equal(cmd.stdout, 'out\n');
  assert.equal(cmd.stderr, 'err\n');
});

test('ssh -t gets a pty on the job; window changes reach it', async () => {
  const t = await ssh(['-tt', 'tty']);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /^\/dev\/pts\/\d+/);

  const { client } = await researcher();
  try {
    const ch = await new Promise<ClientChannel>((resolve, reject) =>
      client.shell({ rows: 30, cols: 100, term: 'xterm' }, (err, c) => (err ? reject(err) : resolve(c))));
    let out = '';
    ch.on('data', (d: Buffer) => (out += d.toString('utf8')));
    ch.write('stty size\n');
    await waitFor('the first size', () => (out.includes('30 100') ? true : undefined), 10_000);
    ch.setWindow(40, 120, 0, 0);
    ch.write('stty size\n');
    await waitFor('the changed size', () => (out.includes('40 120') ? true : undefined), 10_000);
    ch.end('exit 0\n');
  } finally {
    client.end();
  }
});

test('exec reports an exit signal', async () => {
  const { client } = await researcher();
  try {
    const killed = await exec(client, 'kill -TERM $$');
    killed.resume();
    const [code, signal] = await within(new Promise<[number | null, string | undefined]>((r) => killed.once('exit', (c: number | null, s?: string) => r([c, s]))), 15_000, 'exit');
    assert.equal(code, null);
    assert.equal(signal, 'SIGTERM');

  } finally {
    client.end();
  }
});

test('environment variables that the job accepts arrive; others do not', async () => {
  const r = await ssh(['-o', 'SendEnv=AIRLOCK_TEST_COLOUR', '-o', 'SendEnv=NOT_ACCEPTED', 'echo "$AIRLOCK_TEST_COLOUR/${NOT_ACCEPTED-unset}"'], {
    env: { ...process.env, AIRLOCK_TEST_COLOUR: 'blue', NOT_ACCEPTED: 'x' },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'blue/unset\n');
});

test('scp and sftp move 64 MiB each way with matching SHA-256', async () => {
  const src = join(files, 'src.bin');
  writeFileSync(src, randomBytes(64 * 1024 * 1024));
  const want = sha256File(src);
  const common = ['-F', '/dev/null', '-i', w.key, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', `UserKnownHostsFile=${w.front.knownHosts}`, '-o', 'StrictHostKeyChecking=yes'];

  // scp -O: the classic protocol, an exec of `scp -t` on the job.
  const up = await run('scp', ['-O', ...common, '-P', String(w.front.port), src, `alice@127.0.0.1:${join(files, 'scp-up.bin')}`], { timeoutMs: 120_000 });
  assert.equal(up.code, 0, up.stderr);
  assert.equal(sha256File(join(files, 'scp-up.bin')), want);
  const down = await run('scp', ['-O', ...common, '-P', String(w.front.port), `alice@127.0.0.1:${join(files, 'scp-up.bin')}`, join(files, 'scp-down.bin')], { timeoutMs: 120_000 });
  assert.equal(down.code, 0, down.stderr);
  assert.equal(sha256File(join(files, 'scp-down.bin')), want);

  // sftp: the subsystem.
  const batch = join(files, 'batch');
  writeFileSync(batch, `put ${src} ${join(files, 'sftp-up.bin')}\nget ${join(files, 'sftp-up.bin')} ${join(files, 'sftp-down.bin')}\n`);
  const sftp = await run('sftp', [...common, '-P', String(w.front.port), '-b', batch, 'alice@127.0.0.1'], { timeoutMs: 120_000 });
  assert.equal(sftp.code, 0, sftp.stderr);
  assert.equal(sha256File(join(files, 'sftp-up.bin')), want);
  assert.equal(sha256File(join(files, 'sftp-down.bin')), want);
});

test('-L reaches a service on the job; other destinations are refused and audited', async () => {
  w.setJob(w.description({ servicePorts: [web.port] }));
  const localPort = await freePort();
  const tunnel = spawn('ssh', [...w.sshArgs(['-N', '-o', 'ExitOnForwardFailure=yes', '-L', `127.0.0.1:${localPort}:127.0.0.1:${web.port}`])], { stdio: 'ignore' });
  try {
    const body = await waitFor('the tunnel', async () => {
      try {
        const res = await fetch(`http://127.0.0.1:${localPort}/lab`);
        return await res.text();
      } catch {
        return undefined;
      }
    }, 15_000, 100);
    assert.match(body, /hello from jupyter/);

    // Through the same kind of tunnel, a port the job does not list, and another host, are refused.
    const { client } = await researcher();
    try {
      for (const [host, port] of [['127.0.0.1', w.job.port], ['10.9.8.7', 80]] as const) {
        await assert.rejects(new Promise((resolve, reject) => client.forwardOut('127.0.0.1', 0, host, port, (err, ch) => (err ? reject(err) : resolve(ch)))));
      }
    } finally {
      client.end();
    }
    const refused = await w.gw.audit('job.proxy.refused');
    assert.ok(refused.some((e) => e.outcome === 'denied' && e.details.destination === `127.0.0.1:${w.job.port}`));
    assert.ok(refused.some((e) => e.details.destination === '10.9.8.7:80'));
  } finally {
    tunnel.kill();
    w.setJob(w.description());
  }
});

const PLINK = spawnSync('plink', ['-V'], { encoding: 'utf8' });
test('PuTTY\'s plink logs in on the port and runs a command with its exit code', { skip: PLINK.error ? 'plink is not installed' : false }, async () => {
  assert.ok(existsSync(w.ppk), 'puttygen wrote the PPK');
  const r = await run('plink', ['-batch', '-ssh', '-P', String(w.front.port), '-i', w.ppk, '-hostkey', w.front.hostKeyFingerprint, 'alice@127.0.0.1', 'echo from-plink; exit 5'], { timeoutMs: 30_000 });
  assert.equal(r.code, 5, r.stderr);
  assert.equal(r.stdout.replace(/\r/g, ''), 'from-plink\n');
});

test('a job whose host key was swapped is refused and audited (checklist item 12)', async () => {
  const other = publicKeyFromKeyObject(generateKeyPairSync('ed25519').privateKey);
  w.setJob(w.description({ hostTrust: { kind: 'pinned', publicKey: other } }));
  try {
    const r = await ssh(['echo should-not-run']);
    assert.equal(r.code, 255);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /host key that does not match/);
    const denied = (await w.gw.audit('job.proxy.host_key')).at(-1);
    assert.equal(denied?.outcome, 'denied');
    assert.equal(denied?.details.presented, fingerprintSha256(parsePublicKey(w.jobHostKey).blob));
    assert.equal(denied?.details.expected, fingerprintSha256(other.blob));
    // The same world with the right key pinned works: the refusal is about the key.
    w.setJob(w.description({ hostTrust: { kind: 'pinned', publicKey: parsePublicKey(w.jobHostKey) } }));
    const ok = await ssh(['echo pinned-ok']);
    assert.equal(ok.stdout, 'pinned-ok\n', ok.stderr);
    // A host certificate from the host CA for another name does not vouch for this job.
    const wrongName = await w.gw.server.core.ca.issueHostCertificate({ publicKey: parsePublicKey(w.jobHostKey), principals: ['elsewhere'], ttlMs: 3600_000, actor: 'test' });
    w.setJob(w.description({ hostTrust: { kind: 'host-certificate', certificate: wrongName.line } }));
    const bad = await ssh(['echo should-not-run']);
    assert.equal(bad.code, 255);
    assert.match(bad.stderr, /host certificate is not valid/);
  } finally {
    w.setJob(w.description());
  }
});

test('the session certificate: principal = login user, source-address, key ID naming user and job, in the ledger, revocable', async () => {
  const r = await ssh(['true']);
  assert.equal(r.code, 0, r.stderr);
  const connect = (await w.gw.audit('job.proxy.connect')).at(-1)!;
  const serial = BigInt(String(connect.details.serial));
  assert.equal(w.sessions.at(-1)!.certificateSerial, serial, 'the session reports its certificate (to revoke it when the job ends)');
  const rec = (await w.gw.server.core.store.certificates.bySerial(serial))!;
  assert.equal(rec.method, 'job-session');
  assert.equal(rec.userName, 'alice');
  assert.deepEqual(rec.principals, ['root']);
  assert.equal(rec.keyId, 'Airlock:job-session:alice:job1');
  assert.ok(rec.validBefore <= w.description().expiresAt! + 1000);
  // sshd logged the login with that certificate (its key ID and serial).
  assert.match(w.job.logs(), new RegExp(`Accepted certificate ID "Airlock:job-session:alice:job1" \\(serial ${serial}\\)`));
  await w.gw.server.core.ca.revoke(serial, { actor: 'test' });
  assert.notEqual((await w.gw.server.core.store.certificates.bySerial(serial))!.revokedAt, null);
});

test('X11 and agent forwarding are refused and audited when policy does not allow them', async () => {
  const { client } = await researcher();
  try {
    await assert.rejects(exec(client, 'true', { x11: true }));
    const refused = await w.gw.audit('job.proxy.refused');
    assert.ok(refused.some((e) => e.details.what === 'x11'));
  } finally {
    client.end();
  }
  const agent = await startSshAgent(w.dir, 'agent-off');
  try {
    const before = (await w.gw.audit('job.proxy.refused')).filter((e) => e.details.what === 'auth-agent').length;
    const r = await ssh(['-A', 'echo "${SSH_AUTH_SOCK-unset}"; ssh-add -l'], { env: { ...process.env, SSH_AUTH_SOCK: agent.sock } });
    // ssh-add(1): exit 2 = no agent to talk to.
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, 'unset\n');
    assert.match(r.stderr, /Could not open a connection to your authentication agent/);
    assert.ok(!r.stdout.includes(agent.fingerprint));
    const refusals = (await w.gw.audit('job.proxy.refused')).filter((e) => e.details.what === 'auth-agent');
    assert.equal(refusals.length, before + 1);
    assert.equal(refusals.at(-1)?.actor, 'alice');
  } finally {
    agent.stop();
  }
});

test('where policy allows agent forwarding, ssh -A lends the researcher\'s agent to the job, and each use is audited', async () => {
  w.setJob(w.description({ features: { agentForwarding: true } }));
  const agent = await startSshAgent(w.dir, 'agent-on');
  try {
    const uses = (await w.gw.audit('job.proxy.agent')).length;
    const r = await ssh(['-A', 'ssh-add -l; ssh-add -l'], { env: { ...process.env, SSH_AUTH_SOCK: agent.sock } });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 2, r.stdout);
    for (const line of lines) assert.match(line, new RegExp(`^256 ${agent.fingerprint.replace(/[+/]/g, '\\$&')} agent-on \\(ED25519\\)$`));
    // One agent channel per ssh-add, each recorded with who and which job.
    const used = (await w.gw.audit('job.proxy.agent')).slice(uses);
    assert.equal(used.length, 2);
    assert.ok(used.every((e) => e.outcome === 'success' && e.actor === 'alice' && e.details.job === 'job-1'));
    // (sshd forwards for a certificate login only when the certificate has permit-agent-forwarding.)

    // Without -A the job gets no agent, even though policy would allow it.
    const plain = await ssh(['echo "${SSH_AUTH_SOCK-unset}"'], { env: { ...process.env, SSH_AUTH_SOCK: agent.sock } });
    assert.equal(plain.stdout, 'unset\n', plain.stderr);
    assert.equal((await w.gw.audit('job.proxy.agent')).length, uses + 2);
  } finally {
    agent.stop();
    w.setJob(w.description());
  }
});

/** A stand-in X display on 127.0.0.1:N: records what X clients send and answers each with one line. */
async function fakeDisplay(): Promise<{ name: string; received: () => Buffer; stop(): void }> {
  const chunks: Buffer[] = [];
  const server = createServer((s) => {
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => {
      chunks.push(d);
      if (Buffer.concat(chunks).includes('hello-x11')) s.end('hi-from-the-display\n');
    });
  });
  for (let attempt = 0; attempt < 20; attempt++) {
    const n = 100 + Math.floor(Math.random() * 400);
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(6000 + n, '127.0.0.1', () => resolve(true));
    });
    if (ok) return { name: `127.0.0.1:${n}`, received: () => Buffer.concat(chunks), stop: () => server.close() };
  }
  throw new Error('no free X display port');
}

/** An X11 client on the job: its connection set-up with the cookie sshd stored, then a greeting; prints the answer. */
const X11_CLIENT = `n=\${DISPLAY#*:}; n=\${n%.*}; python3 - "$n" <<'PY'
import socket, struct, subprocess, sys
entry = [l.split() for l in subprocess.run(['xauth', 'list'], capture_output=True, text=True).stdout.splitlines() if l.split()[0].endswith(':' + sys.argv[1])][0]
name, data = entry[1].encode(), bytes.fromhex(entry[2])
pad = lambda b: b + bytes((4 - len(b) % 4) % 4)
s = socket.create_connection(('127.0.0.1', 6000 + int(sys.argv[1])))
s.sendall(b'l\\0' + struct.pack('<HHHH', 11, 0, len(name), len(data)) + b'\\0\\0' + pad(name) + pad(data) + b'hello-x11')
print(s.makefile().readline().strip())
subprocess.run(['xauth', 'remove', entry[0]])  # sshd leaves its entry in the login user's ~/.Xauthority
PY`;

test('where policy allows X11, ssh -Y carries the job\'s X11 connections to the researcher\'s display', async () => {
  w.setJob(w.description({ features: { x11: true } }));
  const display = await fakeDisplay();
  try {
    const r = await ssh(['-Y', X11_CLIENT], { env: { ...process.env, DISPLAY: display.name } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hi-from-the-display\n', r.stderr);
    // The display got an X11 connection set-up (little-endian, protocol 11) and the client's bytes.
    const got = display.received();
    assert.deepEqual([...got.subarray(0, 4)], [0x6c, 0, 11, 0]);
    assert.ok(got.includes('hello-x11'));
  } finally {
    display.stop();
    w.setJob(w.description());
  }
});

test('a job whose sshd refuses agent or X11 forwarding: the session runs without it (as with OpenSSH), and the refusal is audited', async () => {
  const strict = await startJobProxyWorld({ sshdExtra: ['AllowAgentForwarding no'] }); // and X11Forwarding no
  const agent = await startSshAgent(strict.dir, 'agent-strict');
  strict.setJob(strict.description({ features: { agentForwarding: true, x11: true } }));
  const display = await fakeDisplay();
  try {
    const r = await run('ssh', ['-A', '-Y', ...strict.sshArgs(), 'echo still-here "${DISPLAY-no-display}"; ssh-add -l'], { env: { ...process.env, SSH_AUTH_SOCK: agent.sock, DISPLAY: display.name }, timeoutMs: 60_000 });
    assert.equal(r.stdout, 'still-here no-display\n', r.stderr);
    assert.equal(r.code, 2, r.stderr);
    const failed = (await strict.gw.audit('job.proxy.forwarding')).filter((e) => e.outcome === 'failure');
    assert.deepEqual(failed.map((e) => e.details.what).sort(), ['auth-agent', 'x11']);
    assert.ok(failed.every((e) => /refused by the job's sshd/.test(String(e.details.reason))));
  } finally {
    display.stop();
    agent.stop();
    await strict.stop();
  }
});

test('a job that stops reading holds the researcher back (bounded), then gets every byte', async () => {
  const go = join(files, 'go');
  const { client, wire } = await researcher();
  try {
    const ch = await exec(client, `i=0; while [ ! -e ${go} ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done; sha256sum`);
    let out = '';
    ch.on('data', (d: Buffer) => (out += d.toString('utf8')));
    const total = 32 * 1024 * 1024;
    const data = randomBytes(total);
    const writing = (async () => {
      for (let i = 0; i < total; i += 64 * 1024) {
        if (!ch.write(data.subarray(i, i + 64 * 1024))) await new Promise<void>((r) => ch.once('drain', () => r()));
      }
      ch.end();
    })();
    let sent = -1;
    for (let i = 0; i < 60; i++) {
      await new Promise((r) => setTimeout(r, 50));
      if (wire.bytesWritten === sent) break;
      sent = wire.bytesWritten;
    }
    console.log(`# the researcher sent ${(sent / 1048576).toFixed(1)} MiB while the job read nothing`);
    assert.ok(sent < 20 * 1024 * 1024, `the researcher sent ${sent} of ${total} bytes while the job read nothing`);
    writeFileSync(go, '');
    await within(writing, 60_000, 'sending 32 MiB');
    await within(new Promise((r) => ch.once('close', r)), 60_000, 'the job hashing them');
    assert.equal(out.split(' ')[0], createHash('sha256').update(data).digest('hex'));
  } finally {
    client.end();
  }
});

test('a researcher who stops reading holds the job back (bounded), then gets every byte', async () => {
  const before = w.sessions.length;
  const { client } = await researcher();
  try {
    const ch = await exec(client, 'head -c 67108864 /dev/zero');
    const session = w.sessions[before]!;
    ch.pause();
    await waitFor('the job to start writing', () => (session.bytes.fromJob > 0 ? true : undefined), 10_000, 20);
    let seen = -1;
    for (let i = 0; i < 60; i++) {
      await new Promise((r) => setTimeout(r, 50));
      if (session.bytes.fromJob === seen) break;
      seen = session.bytes.fromJob;
    }
    console.log(`# the proxy took ${(seen / 1048576).toFixed(1)} MiB from the job while the researcher read nothing`);
    assert.ok(seen < 16 * 1024 * 1024, `the proxy took ${seen} bytes from the job while the researcher read nothing`);
    let got = 0;
    ch.on('data', (d: Buffer) => (got += d.length));
    ch.resume();
    await within(new Promise((r) => ch.once('close', r)), 60_000, 'reading 64 MiB');
    assert.equal(got, 64 * 1024 * 1024);
  } finally {
    client.end();
  }
});

test('closing the proxy tells the open session why and ends both connections', async () => {
  const before = w.sessions.length;
  const { client } = await researcher();
  const ch = await exec(client, 'sleep 30');
  let err = '';
  ch.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
  ch.resume();
  const clientClosed = new Promise((r) => client.once('close', () => r(undefined)));
  w.sessions[before]!.close('The job has ended.');
  await within(clientClosed, 10_000, 'the researcher\'s connection closing');
  await within(w.sessions[before]!.closed, 10_000, 'both connections closed');
  assert.match(err, /airlock: The job has ended\./);
});

test('without the researcher connection\'s relays (stream pipes), the same bytes, exit codes and type-ahead arrive', async () => {
  const piped = await startJobProxyWorld({ researcherRelays: false });
  try {
    const args = piped.sshArgs();
    const shell = await run('ssh', [...args, '-T'], { input: 'echo typed-ahead; exit 4\n', timeoutMs: 60_000 });
    assert.equal(shell.code, 4, shell.stderr);
    assert.equal(shell.stdout, 'typed-ahead\n');
    const src = join(files, 'piped.bin');
    writeFileSync(src, randomBytes(16 * 1024 * 1024));
    const r = await run('sh', ['-c', `ssh "$@" sha256sum < ${src}`, 'sh', ...args], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.split(' ')[0], sha256File(src));
  } finally {
    await piped.stop();
  }
});

test('a researcher who leaves while the proxy logs in to the job leaves no connection to the job behind', async () => {
  // Gone while the session certificate is minted, and gone while the job's sshd is slow to answer.
  const slow = createServer((s) => {
    s.on('error', () => undefined);
    const timer = setTimeout(() => {
      const j = connect({ host: '127.0.0.1', port: w.job.port });
      j.on('error', () => s.destroy());
      s.pipe(j).pipe(s);
      s.once('close', () => j.destroy());
    }, 500);
    s.once('close', () => clearTimeout(timer));
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', () => r()));
  try {
    for (const phase of ['certificate', 'login'] as const) {
      w.setJob(phase === 'login' ? w.description({ port: (slow.address() as AddressInfo).port }) : w.description());
      const release = phase === 'certificate' ? w.holdCertificates() : () => undefined;
      const before = w.sessions.length;
      const open = w.openConnections();
      const { client } = await researcher();
      client.end();
      await waitFor('the front server to see the researcher go', () => (w.openConnections() === open ? true : undefined), 5_000, 10);
      release();
      await within(w.sessions[before]!.closed, 15_000, `the proxy's connection to the job closing (researcher gone during the ${phase})`);
    }
  } finally {
    w.setJob(w.description());
    slow.close();
  }
});
