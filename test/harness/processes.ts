/** Child processes for tests: run to completion with a timeout, or keep running and stop cleanly. */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (bounded by `timeoutMs`), feeding `input` to stdin. */
export function run(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} timed out after ${opts.timeoutMs ?? 60_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // A child that exits without reading its input (e.g. refuses at once) must not fail the test with EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

const handedOut = new Set<number>();

/**
 * A port that was free a moment ago on 127.0.0.1 (for servers such as sshd that cannot pick their own),
 * below the kernel's ephemeral range: see freePortRange().
 */
export function freePort(): Promise<number> {
  return freePortRange(1);
}

/**
 * `count` consecutive ports, all free a moment ago on 127.0.0.1 (e.g. for AIRLOCK_JOB_PORTS). Taken
 * below the kernel's ephemeral range, where no port-0 listener or outgoing connection of a test running
 * beside this one can take them before the server binds. A port 0 picks and then closes is back in that
 * pool at once: with test files running side by side, such ports were seen taken (EADDRINUSE at a
 * replica's start; a job port that never listened). Bounded: 50 tries.
 */
export async function freePortRange(count: number): Promise<number> {
  const ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  const low = 20_000; // above the usual fixed services (PostgreSQL 5432, X11 6000+, ...)
  const high = (Number.isInteger(ephemeralLow) && ephemeralLow > 0 ? ephemeralLow : 32_768) - count;
  if (high <= low) throw new Error(`no room for ${count} ports between ${low} and the ephemeral range`);
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = low + Math.floor(Math.random() * (high - low));
    const held: Server[] = [];
    // Ports handed out earlier in this process are not handed out again (their servers may not be up yet).
    let free = Array.from({ length: count }, (_, i) => first + i).every((p) => !handedOut.has(p));
    for (let i = 0; i < count && free; i++) {
      const srv = createServer();
      free = await new Promise<boolean>((resolve) => {
        srv.once('error', () => resolve(false));
        srv.listen(first + i, '127.0.0.1', () => resolve(true));
      });
      if (free) held.push(srv);
    }
    await Promise.all(held.map((srv) => new Promise<void>((resolve) => srv.close(() => resolve()))));
    if (free) {
      for (let i = 0; i < count; i++) handedOut.add(first + i);
      return first;
    }
  }
  throw new Error(`no ${count} consecutive free ports found below the ephemeral range`);
}

/** Starts a long-running process, collecting its output. */
export function startProcess(cmd: string, args: string[], opts: SpawnOptions = {}): { child: ChildProcess; output: () => string } {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  return { child, output: () => output };
}

/** Stops a process with SIGTERM (SIGKILL after `graceMs`) and waits for it to exit. */
export async function stopProcess(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Polls `check` every `intervalMs` until it returns a value, up to `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
