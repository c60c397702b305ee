/**
 * `airlock tunnel` end to end: it prints a URL with the service's path and token that curl fetches
 * through the gateway; a taken local port is replaced by a free one; Ctrl-C (SIGINT) stops it and
 * leaves nothing behind (no ssh process, no listener, no control socket, no gateway connection);
 * "connection refused" (nothing listens) and "not allowed" (the gateway's policy) are told apart.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { AIRLOCK_BIN } from '../harness/airlock.ts';
import { freePort, run, waitFor } from '../harness/processes.ts';
import { isPortFree } from '../../src/cli/local-ports.ts';
import { startSignedInCliWorld, SERVICE_TOKEN, type CliWorld } from './cli-fixture.ts';

let w: CliWorld;

before(async () => {
  w = await startSignedInCliWorld();
});

after(async () => {
  await w?.stop();
});

interface RunningTunnel {
  child: ChildProcess;
  /** The first line on stdout: the URL (or address). */
  firstLine: Promise<string>;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
}

function startTunnel(args: string[]): RunningTunnel {
  const child = spawn(process.execPath, [AIRLOCK_BIN, 'tunnel', ...args], { env: w.env(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const firstLine = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0]!);
    });
    void exited.then((code) => reject(new Error(`airlock tunnel exited with ${code} before printing a URL: ${err}`)));
  });
  firstLine.catch(() => {});
  return { child, firstLine, stdout: () => out, stderr: () => err, exited };
}

/** Processes whose command line contains `needle` (the ssh of a tunnel, found by its -L argument). */
function processesWith(needle: string): number[] {
  const pids: number[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').some((a) => a.includes(needle))) pids.push(Number(pid));
    } catch {
      // the process ended meanwhile
    }
  }
  return pids;
}

test('airlock tunnel vm1 jupyter: the printed URL opens the service through the gateway; Ctrl-C leaves nothing behind', async () => {
  // The service listens on this machine too (a test artefact), so its usual local port is taken:
  // the tunnel must notice and pick another one.
  const t = startTunnel(['vm1', 'jupyter']);
  try {
    const url = await waitFor('the URL', () => t.firstLine, 60_000);
    assert.doesNotMatch(t.stderr(), /did not answer/, 'the check saw the service answer');
    const u = new URL(url);
    assert.equal(u.hostname, '127.0.0.1');
    assert.notEqual(Number(u.port), w.web.port);
    assert.equal(u.pathname, '/lab');
    assert.equal(u.searchParams.get('token'), SERVICE_TOKEN);
    assert.match(t.stderr(), new RegExp(`Local port ${w.web.port} is in use by another program; using ${u.port} instead\\.`));
    await waitFor('the message', () => (t.stderr().includes('Press Ctrl-C') ? true : undefined), 10_000);
    assert.match(t.stderr(), new RegExp(`Tunnel open: 127\\.0\\.0\\.1:${u.port} -> vm1 port ${w.web.port} \\(jupyter\\)\\. Open ${url.replaceAll('.', '\\.').replaceAll('?', '\\?')}`));
    const curl = await run('curl', ['-s', '--max-time', '10', url]);
    assert.equal(curl.code, 0, curl.stderr);
    assert.equal(curl.stdout, `hello from jupyter /lab?token=${SERVICE_TOKEN}`);
    const spec = `127.0.0.1:${u.port}:vm1:${w.web.port}`;
    assert.equal(processesWith(spec).length, 1, 'one ssh carries the tunnel');

    t.child.kill('SIGINT');
    assert.equal(await t.exited, 0, t.stderr());
    assert.match(t.stderr(), /Tunnel closed\.\n$/);
    assert.deepEqual(processesWith(spec), [], 'no ssh left');
    assert.equal(await isPortFree(Number(u.port)), true, 'nothing listens on the local port');
    assert.deepEqual(readdirSync(join(w.home, '.ssh', 'airlock')).filter((f) => f.startsWith('cm-')), [], 'no control socket');
    await waitFor('the gateway connection to close', () => (w.gw.server.gateway.stats().connections === 0 ? true : undefined), 10_000);
  } finally {
    t.child.kill('SIGKILL');
  }
});

test('--local-port: used when free; when taken, another free port is used and the user told', async () => {
  const wanted = await freePort();
  const t = startTunnel(['vm1', String(w.web.port), '--local-port', String(wanted), '--json']);
  try {
    const parsed = await waitFor('the JSON', () => {
      try {
        return JSON.parse(t.stdout()) as Record<string, unknown>;
      } catch {
        return undefined;
      }
    }, 60_000);
    assert.doesNotMatch(t.stderr(), /did not answer/, 'the check saw the service answer');
    assert.deepEqual(parsed, {
      target: 'vm1', service: 'jupyter', remote_port: w.web.port, local_port: wanted, address: `127.0.0.1:${wanted}`,
      url: `http://127.0.0.1:${wanted}/lab?token=${SERVICE_TOKEN}`,
    }, 'a port number finds its service, for the URL');
  } finally {
    t.child.kill('SIGTERM');
    assert.equal(await t.exited, 0);
  }

  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const taken = (busy.address() as { port: number }).port;
  const t2 = startTunnel(['vm1', 'jupyter', '--local-port', String(taken)]);
  try {
    const url = new URL(await waitFor('the URL', () => t2.firstLine, 60_000));
    assert.notEqual(Number(url.port), taken);
    assert.doesNotMatch(t2.stderr(), /did not answer/, 'the check saw the service answer');
    assert.match(t2.stderr(), new RegExp(`Local port ${taken} is in use by another program; using ${url.port} instead\\.`));
    assert.equal((await run('curl', ['-s', '--max-time', '10', url.href])).stdout, `hello from jupyter /lab?token=${SERVICE_TOKEN}`);
  } finally {
    t2.child.kill('SIGINT');
    assert.equal(await t2.exited, 0);
    busy.close();
  }
});

// ssh logs "Local forwarding listening" just before it calls listen(2), so the tunnel's check, which
// connects at once, is sometimes refused by the kernel; it used to miss the gateway's answer then and
// wait its full 30 s. Each refusal must come well within that, every time: several runs each.
const RUNS = 6;
const QUICK_MS = 20_000;

test('"connection refused": a registered service where nothing listens is named as such, promptly, and nothing is left', async () => {
  for (let i = 0; i < RUNS; i++) {
    // An explicit local port: the target is this machine, so the service's own port number would loop back.
    const local = await freePort();
    const r = await w.cli(['tunnel', 'vm1', 'idle', '--local-port', String(local)], { timeoutMs: QUICK_MS });
    assert.equal(r.code, 7, r.stderr);
    assert.equal(r.stdout, '', 'no URL for a tunnel that does not work');
    assert.match(r.stderr, new RegExp(`airlock: Connection refused: nothing is listening on vm1 port ${w.idlePort} \\(idle\\)\\. Start the service on vm1, or check the port number\\.`));
    assert.deepEqual(processesWith(`127.0.0.1:${local}:vm1:`), []);
  }
});

test('"not allowed": a port that is neither the SSH port nor a service is refused by the gateway, in plain words, promptly', async () => {
  for (let i = 0; i < RUNS; i++) {
    const local = await freePort();
    const r = await w.cli(['tunnel', 'vm1', '5432', '--local-port', String(local)], { timeoutMs: QUICK_MS });
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /airlock: Not allowed: the gateway does not let you reach vm1 port 5432\. Only a target's SSH port and its registered services can be reached \(airlock hosts lists them\)\. The gateway said: "Port 5432 is not open to you on vm1/);
    assert.doesNotMatch(r.stderr, /administratively prohibited/, 'ssh\'s wording is translated');
  }
});

test('unknown targets and services are refused before ssh starts, with what exists', async () => {
  const t = await w.cli(['tunnel', 'vm9', 'jupyter']);
  assert.equal(t.code, 5);
  assert.match(t.stderr, /You have no target named "vm9"; yours: vm1\./);
  const s = await w.cli(['tunnel', 'vm1', 'tensorboard']);
  assert.equal(s.code, 5);
  assert.match(s.stderr, new RegExp(`vm1 has no service named "tensorboard"; its services: idle \\(${w.idlePort}\\), jupyter \\(${w.web.port}\\)`));
  const p = await w.cli(['tunnel', 'vm1', 'jupyter', '--local-port', '0']);
  assert.equal(p.code, 2);
});
