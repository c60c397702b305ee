/**
 * The gateway benchmark's measurements with the stock OpenSSH client: bulk throughput through a
 * ProxyJump (or straight), throughput of an `ssh -N -L` tunnel, connection set-up time of a whole
 * `ssh -J … true`, and of the jump hop alone (`ssh -W` until the target's banner arrives). Each returns
 * wall time and the CPU the jump host spent, so that a ratio can be explained as well as stated.
 */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { freePort, startProcess, stopProcess, waitFor } from '../test/harness/processes.ts';
import { machineCpuSeconds, sampleTreeCpu } from './proc-stats.ts';
import type { BenchWorld, Cipher, JumpKind, PathKind } from './gateway-world.ts';

export interface Transfer {
  /** Seconds of the data phase, as the receiver saw it (first byte to last; log-in excluded). */
  seconds: number;
  mbPerSec: number;
  /** Seconds from starting the client to the end, log-in included. */
  wallSeconds: number;
  /** CPU seconds of the jump host (Airlock process, or the sshd tree) per GiB; null without a jump. */
  jumpCpuPerGiB: number | null;
  /** Busy CPU seconds of the whole machine per GiB (client, jump host, target, all). */
  machineCpuPerGiB: number;
}

const GIB = 1024 ** 3;
const sshEnv = (): NodeJS.ProcessEnv => ({ ...process.env, SSH_AUTH_SOCK: '' });

/** Runs `sh -c cmd`, returning stdout, or throwing with stderr when it fails or outlasts `timeoutMs`. */
function sh(cmd: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', cmd], { env: sshEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} exited ${code}: ${err.slice(-2000)}`));
    });
  });
}

function jumpPid(w: BenchWorld, jump: JumpKind): number {
  return jump === 'airlock' ? w.airlock.pid : w.jump.pid;
}

/** Runs `body`, which returns the seconds of its data phase, and accounts for wall time and CPU. */
async function measured(w: BenchWorld, jump: JumpKind | null, bytes: number, body: () => Promise<number>): Promise<Transfer> {
  const sampler = jump === null ? null : sampleTreeCpu(jumpPid(w, jump));
  const m0 = machineCpuSeconds();
  const t0 = performance.now();
  let seconds: number;
  let jumpCpu: number | null = null;
  try {
    seconds = await body();
  } finally {
    jumpCpu = sampler?.stop() ?? null;
  }
  const wallSeconds = (performance.now() - t0) / 1000;
  const m1 = machineCpuSeconds();
  return {
    seconds,
    mbPerSec: bytes / 1e6 / seconds,
    wallSeconds,
    jumpCpuPerGiB: jumpCpu === null ? null : jumpCpu / (bytes / GIB),
    machineCpuPerGiB: (m1.busy - m0.busy) / (bytes / GIB),
  };
}

/**
 * `head -c BYTES /dev/zero | ssh TARGET 'wc -c'` along `path`; checks that every byte arrived. The data
 * phase is timed by the target's clock around `wc` (same machine), so the log-in is not in the rate.
 */
export async function throughput(w: BenchWorld, path: PathKind, cipher: Cipher, bytes: number): Promise<Transfer> {
  let count = '';
  const result = await measured(w, path === 'direct' ? null : path, bytes, async () => {
    const out = await sh(`head -c ${bytes} /dev/zero | ssh -F ${w.sshConfig} ${w.targetAlias(path, cipher)} 'date +%s.%N; wc -c; date +%s.%N'`, 600_000);
    const [start, n, end] = out.trim().split('\n');
    count = n ?? '';
    return Number(end) - Number(start);
  });
  if (Number(count.trim()) !== bytes) throw new Error(`the target counted ${count.trim()} bytes, not ${bytes}`);
  return result;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/** `ssh -N -L PORT:sink` through a jump host, then BYTES pushed through the local port into the sink (which times the data phase). */
export async function tunnel(w: BenchWorld, jump: JumpKind, cipher: Cipher, bytes: number): Promise<Transfer> {
  const local = await freePort();
  const ssh = startProcess('ssh', ['-F', w.sshConfig, '-N', '-o', 'ExitOnForwardFailure=yes', '-L', `127.0.0.1:${local}:127.0.0.1:${w.sinkPort}`, w.jumpAlias(jump, cipher)], { env: sshEnv() });
  try {
    // ssh listens locally once it is logged in; the probe's empty connection reaches the sink and is ignored there.
    await waitFor('the tunnel', async () => (ssh.child.exitCode !== null ? Promise.reject(new Error(`ssh -L exited: ${ssh.output()}`)) : (await canConnect(local)) ? true : undefined), 20_000, 50);
    await w.sinkReport(0, 10_000);
    return await measured(w, jump, bytes, async () => {
      await sh(`head -c ${bytes} /dev/zero | socat -u STDIN TCP:127.0.0.1:${local}`, 600_000);
      const r = await w.sinkReport(bytes, 600_000);
      if (r.bytes !== bytes) throw new Error(`the sink received ${r.bytes} bytes, not ${bytes}`);
      return r.ms / 1000;
    });
  } finally {
    await stopProcess(ssh.child);
  }
}

/** Wall-clock milliseconds of `ssh TARGET true` along `path` (key exchange and login on every hop, then exit). */
export async function setupOnce(w: BenchWorld, path: PathKind, cipher: Cipher): Promise<number> {
  const t0 = performance.now();
  await sh(`ssh -F ${w.sshConfig} ${w.targetAlias(path, cipher)} true`, 30_000);
  return performance.now() - t0;
}

/**
 * Milliseconds until an SSH banner comes out of `ssh -W 127.0.0.1:PORT JUMP`: TCP, key exchange, login
 * and channel open at the jump host, then the onward connection and whatever the endpoint takes to
 * answer (the target's sshd by default; `w.bannerPort` answers at once). Nothing of the target's own
 * key exchange or login is included. The client then closes its side and the process exits.
 */
export function hopOnce(w: BenchWorld, jump: JumpKind, cipher: Cipher, port = w.target.port): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('ssh', ['-F', w.sshConfig, '-W', `127.0.0.1:${port}`, w.jumpAlias(jump, cipher)], { env: sshEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let ms: number | null = null;
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString('latin1');
      if (ms === null && out.includes('SSH-2.0-')) {
        ms = performance.now() - t0;
        child.stdin.end();
        // sshd waits for the client's banner and would sit out its LoginGraceTime; nothing more is needed from it.
        child.kill('SIGTERM');
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('close', () => {
      clearTimeout(timer);
      if (ms !== null) resolve(ms);
      else reject(new Error(`ssh -W through ${jump} produced no banner: ${err}`));
    });
  });
}
