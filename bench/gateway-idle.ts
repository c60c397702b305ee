/**
 * Memory of idle authenticated connections: the gateway (one process; VmRSS from /proc) at each
 * requested level, and an OpenSSH jump host (a process tree, two processes per connection after
 * privilege separation; RSS and PSS summed) at a small count that is extrapolated. Connections come
 * from separate load-generator processes (gateway-idle-client.ts) in bounded batches, so the
 * gateway's default pre-authentication limits hold throughout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { run, stopProcess } from '../test/harness/processes.ts';
import { fdLimits, openFds, peakRssKiB, processCpuSeconds, rssKiB, treeMemory } from './proc-stats.ts';
import type { IdleClientConfig } from './gateway-idle-client.ts';
import type { BenchWorld } from './gateway-world.ts';

/** Connections per load-generator process (well under its descriptor limit). */
const PER_PROCESS = 2500;
/** Handshakes in flight across all load generators: under the gateway's default total of 100 unauthenticated. */
const TOTAL_CONCURRENCY = 32;
/** Source addresses per load generator (127.0.K.1–200): one handshake per address at a time, under the per-address cap of 10. */
const SOURCES_PER_PROCESS = 200;
const SETTLE_MS = 5000;

interface LoadGen {
  child: ChildProcess;
  done: Promise<{ done: number; failed: number; errors: string[] }>;
}

let generatorIndex = 0;

function startLoadGen(cfg: Omit<IdleClientConfig, 'sourceAddresses'>, sources: string[] | null): LoadGen {
  const k = ++generatorIndex;
  const full: IdleClientConfig = { ...cfg, sourceAddresses: sources ?? Array.from({ length: SOURCES_PER_PROCESS }, (_, i) => `127.0.${k}.${i + 1}`) };
  const child = spawn(process.execPath, [join(import.meta.dirname, 'gateway-idle-client.ts'), JSON.stringify(full)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const done = new Promise<{ done: number; failed: number; errors: string[] }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`load generator exited early (${code})`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = JSON.parse(line) as { done?: number; failed?: number; errors?: string[] };
      if (m.done !== undefined) resolve({ done: m.done, failed: m.failed ?? 0, errors: m.errors ?? [] });
    });
  });
  return { child, done };
}

async function closeAll(gens: LoadGen[]): Promise<void> {
  for (const g of gens) g.child.stdin!.end();
  await Promise.all(gens.map((g) => stopProcess(g.child, 15_000)));
}

export interface GatewayIdleLevel {
  connections: number;
  failed: number;
  rssMiB: number;
  /** (RSS at this level − RSS before any idle connection) / connections. */
  perConnectionKiB: number;
  fds: number;
  /** Seconds to open the connections added for this level, and the gateway's CPU per login. */
  openSeconds: number;
  gatewayCpuMsPerLogin: number;
}

export interface GatewayIdleResult {
  baselineMiB: number;
  levels: GatewayIdleLevel[];
  peakMiB: number;
  fdLimit: number;
}

/** Opens idle authenticated connections to the gateway up to each level in turn (ascending), measuring at each. */
export async function gatewayIdle(w: BenchWorld, levels: number[], log: (s: string) => void): Promise<GatewayIdleResult> {
  const pid = w.airlock.pid;
  const needed = Math.max(...levels) + 1024;
  let limit = fdLimits(pid);
  if (limit.soft < needed) {
    // What `ulimit -n` in the service's unit would do; prlimit changes the running process.
    const r = await run('prlimit', ['--pid', String(pid), `--nofile=${Math.min(needed, limit.hard)}:${limit.hard}`]);
    if (r.code !== 0) log(`  could not raise the gateway's open-file limit: ${r.stderr.trim()}`);
    limit = fdLimits(pid);
  }
  const usable = levels.filter((l) => l + 64 <= limit.soft);
  if (usable.length < levels.length) log(`  skipping levels above the gateway's open-file limit ${limit.soft}: ${levels.filter((l) => !usable.includes(l)).join(', ')}`);

  const base = { host: w.gateway.host, port: w.gateway.port, username: w.user.name, keyPath: w.user.key, certPath: w.user.cert };
  const gens: LoadGen[] = [];
  const out: GatewayIdleLevel[] = [];
  await new Promise((r) => setTimeout(r, 1000));
  const baseline = rssKiB(pid);
  let open = 0;
  let failedTotal = 0;
  try {
    for (const level of usable) {
      const add = level - open;
      if (add <= 0) continue;
      const procs = Math.ceil(add / PER_PROCESS);
      const cpu0 = processCpuSeconds(pid);
      const t0 = performance.now();
      const batch: LoadGen[] = [];
      for (let i = 0; i < procs; i++) {
        const count = Math.min(PER_PROCESS, add - i * PER_PROCESS);
        batch.push(startLoadGen({ ...base, count, concurrency: Math.ceil(TOTAL_CONCURRENCY / procs) }, null));
      }
      gens.push(...batch);
      const results = await Promise.all(batch.map((g) => g.done));
      const openSeconds = (performance.now() - t0) / 1000;
      const cpu = processCpuSeconds(pid) - cpu0;
      const ok = results.reduce((a, r) => a + r.done, 0);
      const failed = results.reduce((a, r) => a + r.failed, 0);
      if (failed > 0) log(`  ${failed} connections failed: ${results.flatMap((r) => r.errors).slice(0, 3).join('; ')}`);
      open += ok;
      failedTotal += failed;
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      const rss = rssKiB(pid);
      out.push({
        connections: open, failed: failedTotal, rssMiB: rss / 1024, perConnectionKiB: (rss - baseline) / open, fds: openFds(pid),
        openSeconds, gatewayCpuMsPerLogin: ok > 0 ? (cpu * 1000) / ok : 0,
      });
      log(`  ${open} idle connections: gateway RSS ${(rss / 1024).toFixed(1)} MiB (${openSeconds.toFixed(1)} s to open ${ok})`);
    }
  } finally {
    await closeAll(gens);
  }
  return { baselineMiB: baseline / 1024, levels: out, peakMiB: peakRssKiB(pid) / 1024, fdLimit: limit.soft };
}

export interface SshdIdleResult {
  connections: number;
  failed: number;
  before: { processes: number; rssKiB: number; pssKiB: number };
  after: { processes: number; rssKiB: number; pssKiB: number };
}

/** Idle authenticated connections to the OpenSSH jump host (sshd's MaxStartups 10 allows a few handshakes at once). */
export async function sshdIdle(w: BenchWorld, count: number): Promise<SshdIdleResult> {
  const before = treeMemory(w.jump.pid);
  const gen = startLoadGen({ host: '127.0.0.1', port: w.jump.port, username: 'root', keyPath: w.user.key, certPath: w.user.cert, count, concurrency: 4 }, ['127.0.0.1']);
  try {
    const r = await gen.done;
    await new Promise((res) => setTimeout(res, 2000));
    return { connections: r.done, failed: r.failed, before, after: treeMemory(w.jump.pid) };
  } finally {
    await closeAll([gen]);
  }
}
