/**
 * Runs the real `airlock` executable for black-box tests: `airlock serve` as a child process on port 0
 * with its own data directory, and one-shot CLI commands with their own HOME.
 */
import { readFileSync, existsSync, rmSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, startProcess, stopProcess, waitFor, type RunResult } from './processes.ts';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const AIRLOCK_BIN = join(ROOT, 'bin', 'airlock.mjs');

/** Runs `airlock ARGS` with this process's Node and returns its result. */
export function airlock(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return run(process.execPath, [AIRLOCK_BIN, ...args], { input: opts.input, env: { ...process.env, ...opts.env }, timeoutMs: opts.timeoutMs ?? 60_000 });
}

export interface RunningAirlock {
  /** Process id of `airlock serve` (for CPU accounting in benchmarks). */
  pid: number;
  dataDir: string;
  httpUrl: string;
  ssh: string | null;
  env: NodeJS.ProcessEnv;
  logs(): string;
  stop(): Promise<void>;
  /** Resolves with the exit code (or signal) once `airlock serve` exits. */
  exited: Promise<number | string | null>;
  /** Sends a signal (SIGTERM: drain; SIGKILL: a crash). */
  kill(signal: NodeJS.Signals): void;
  /** Runs `airlock admin --data-dir DIR ARGS`. */
  admin(args: string[], opts?: { input?: string }): Promise<RunResult>;
}

/**
 * Starts `airlock serve` with a data directory and environment overrides; waits for endpoints.json.
 * `bin` runs another `airlock` executable (an installed package) instead of this checkout's.
 */
export async function startAirlock(dataDir: string, env: NodeJS.ProcessEnv = {}, bin: string = AIRLOCK_BIN): Promise<RunningAirlock> {
  // Stopping ends open sessions at once (no drain wait) unless a test asks for the drain.
  const fullEnv: NodeJS.ProcessEnv = { ...process.env, AIRLOCK_HTTP_LISTEN: '127.0.0.1:0', AIRLOCK_SSH_LISTEN: '127.0.0.1:0', AIRLOCK_DRAIN_TIMEOUT: '0', ...env };
  const endpointsFile = join(dataDir, 'endpoints.json');
  rmSync(endpointsFile, { force: true }); // a restart must not read the previous run's ports
  const proc = startProcess(process.execPath, [bin, 'serve', '--data-dir', dataDir], { env: fullEnv });
  let exited = false;
  const exit = new Promise<number | string | null>((resolve) => proc.child.once('exit', (code, signal) => {
    exited = true;
    resolve(code ?? signal);
  }));
  const endpoints = await waitFor('airlock serve to write endpoints.json', () => {
    if (exited) throw new Error(`airlock serve exited early:\n${proc.output()}`);
    if (!existsSync(endpointsFile)) return undefined;
    try {
      return JSON.parse(readFileSync(endpointsFile, 'utf8')) as { http: string; ssh: string | null };
    } catch {
      return undefined;
    }
  }, 30_000);
  return {
    pid: proc.child.pid!,
    dataDir,
    httpUrl: endpoints.http,
    ssh: endpoints.ssh,
    env: fullEnv,
    logs: proc.output,
    stop: () => stopProcess(proc.child),
    exited: exit,
    kill: (signal) => proc.child.kill(signal),
    admin: (args, opts = {}) => run(process.execPath, [bin, 'admin', '--data-dir', dataDir, ...args], { input: opts.input, env: fullEnv, timeoutMs: 60_000 }),
  };
}

/** Runs `airlock admin …` against a running server and returns its stdout; throws with its stderr when it fails. */
export async function adminOk(server: RunningAirlock, args: string[], input?: string): Promise<string> {
  const r = await server.admin(args, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`airlock admin ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}
