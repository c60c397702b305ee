/**
 * Gateway benchmark: Airlock's SSH gateway (a real `airlock serve`) against an OpenSSH sshd jump host,
 * side by side in one run, with the stock OpenSSH client and one OpenSSH sshd target behind both. Prints
 * ratios for ProxyJump throughput and `-L` tunnel throughput (chacha20-poly1305 and aes128-gcm on
 * every hop), connection set-up time (p50/p95), and the memory of idle authenticated connections.
 *
 *   npm run bench:gateway                 # 1 GiB transfers, 3 rounds, 20 set-up runs, 1,000 and 10,000 idle
 *   BENCH_BYTES=256M BENCH_ROUNDS=1 BENCH_RUNS=10 BENCH_IDLE=1000 npm run bench:gateway   # quick
 *
 * Knobs: BENCH_BYTES (bytes per transfer, K/M/G suffixes), BENCH_ROUNDS (transfers per path, median
 * reported), BENCH_RUNS (set-up samples per path, after BENCH_WARMUP), BENCH_IDLE (comma-separated
 * connection counts; empty skips), BENCH_SSHD_IDLE (idle sshd connections measured, default 100),
 * BENCH_ONLY (any of throughput,tunnel,setup,idle), BENCH_MAX_LOAD (wait, up to 20 minutes, until the
 * 1-minute load average is below it), BENCH_SERVER_NODE_OPTIONS (NODE_OPTIONS for `airlock serve`
 * only, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`).
 */
import { parseByteSize } from '../src/config.ts';
import { cpus } from 'node:os';
import { spawnSync } from 'node:child_process';
import { CIPHERS, startWorld, type Cipher, type JumpKind, type PathKind } from './gateway-world.ts';
import { hopOnce, setupOnce, throughput, tunnel, type Transfer } from './gateway-measure.ts';
import { gatewayIdle, sshdIdle, type GatewayIdleResult, type SshdIdleResult } from './gateway-idle.ts';
import { foreignCpu, loadAverage, loadLine, median, percentile } from './proc-stats.ts';

const env = process.env;
const BYTES = parseByteSize(env.BENCH_BYTES ?? '1G', 'BENCH_BYTES');
const ROUNDS = Math.max(1, Number(env.BENCH_ROUNDS ?? 3));
const WARM_BYTES = Math.min(BYTES, 256 * 1024 ** 2);
const RUNS = Math.max(1, Number(env.BENCH_RUNS ?? 20));
const WARMUP = Math.max(0, Number(env.BENCH_WARMUP ?? 3));
const IDLE = (env.BENCH_IDLE ?? '1000,10000').split(',').map((s) => Number(s.trim())).filter((n) => n > 0).sort((a, b) => a - b);
const SSHD_IDLE = Math.max(0, Number(env.BENCH_SSHD_IDLE ?? 100));
const ONLY = new Set((env.BENCH_ONLY ?? 'throughput,tunnel,setup,idle').split(',').map((s) => s.trim()));
const MAX_LOAD = env.BENCH_MAX_LOAD ? Number(env.BENCH_MAX_LOAD) : null;

const say = (s = ''): void => console.log(s);
const note = (s: string): void => console.error(s);
const f1 = (x: number): string => x.toFixed(1);
const f2 = (x: number): string => x.toFixed(2);
const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;
/** `other processes used 12% of the machine (41 CPU-s)` for a section. */
const others = (f: ReturnType<typeof foreignCpu>): string => {
  const r = f.stop();
  return `other processes (not this benchmark) used ${(r.share * 100).toFixed(0)}% of the machine during this section`;
};
const sizeText = BYTES % 1024 ** 3 === 0 ? `${BYTES / 1024 ** 3} GiB` : `${f1(BYTES / 1024 ** 2)} MiB`;

if (MAX_LOAD !== null) {
  const deadline = Date.now() + 20 * 60_000;
  while (loadAverage()[0] > MAX_LOAD && Date.now() < deadline) {
    note(`waiting for the load to fall below ${MAX_LOAD} (${loadLine()})`);
    await new Promise((r) => setTimeout(r, 15_000));
  }
}

const sshVersion = spawnSync('ssh', ['-V'], { encoding: 'utf8' }).stderr.trim().split(',')[0];
say(`# Gateway benchmark (${new Date().toISOString()}, ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, ${sshVersion})`);
say(`${loadLine()} at start; transfers of ${sizeText} (after one unmeasured warm-up transfer per path), median of ${ROUNDS}; set-up over ${RUNS} runs after ${WARMUP} warm-up; key exchange curve25519-sha256 on every hop`);

const serverEnv: NodeJS.ProcessEnv = env.BENCH_SERVER_NODE_OPTIONS ? { NODE_OPTIONS: env.BENCH_SERVER_NODE_OPTIONS } : {};
const w = await startWorld(serverEnv);
let failed = false;
try {
  // ---- idle connections first, on a fresh process, so the baseline holds no transfer buffers ----
  let idle: GatewayIdleResult | null = null;
  let sshd: SshdIdleResult | null = null;
  if (ONLY.has('idle') && (IDLE.length > 0 || SSHD_IDLE > 0)) {
    const load = loadLine();
    const foreign = foreignCpu();
    if (IDLE.length > 0) idle = await gatewayIdle(w, IDLE, note);
    if (SSHD_IDLE > 0) sshd = await sshdIdle(w, SSHD_IDLE);
    say();
    say(`## Idle authenticated connections (${load} at start)`);
    say();
    say(`${others(foreign)}.`);
    say();
    if (idle) {
      say(`Airlock gateway, one process (VmRSS); ${f1(idle.baselineMiB)} MiB before any idle connection; open-file limit ${idle.fdLimit}:`);
      say();
      say('| connections | gateway RSS | per connection (above baseline) | open fds | time to open | gateway CPU per login |');
      say('|---:|---:|---:|---:|---:|---:|');
      for (const l of idle.levels) {
        say(`| ${l.connections.toLocaleString('en')}${l.failed ? ` (${l.failed} failed)` : ''} | ${f1(l.rssMiB)} MiB | ${f1(l.perConnectionKiB)} KiB | ${l.fds} | ${f1(l.openSeconds)} s | ${f2(l.gatewayCpuMsPerLogin)} ms |`);
      }
      say();
      say(`peak RSS (VmHWM) ${f1(idle.peakMiB)} MiB`);
    }
    if (sshd) {
      const n = sshd.connections;
      const procs = (sshd.after.processes - sshd.before.processes) / n;
      const pss = (sshd.after.pssKiB - sshd.before.pssKiB) / n;
      const rss = (sshd.after.rssKiB - sshd.before.rssKiB) / n;
      say();
      say(`OpenSSH sshd jump host, ${n} idle authenticated connections${sshd.failed ? ` (${sshd.failed} failed)` : ''} (processes summed; 10,000 is an extrapolation, not a measurement):`);
      say();
      say('| | processes | PSS | RSS |');
      say('|---|---:|---:|---:|');
      say(`| listener alone | ${sshd.before.processes} | ${f1(sshd.before.pssKiB / 1024)} MiB | ${f1(sshd.before.rssKiB / 1024)} MiB |`);
      say(`| with ${n} connections | ${sshd.after.processes} | ${f1(sshd.after.pssKiB / 1024)} MiB | ${f1(sshd.after.rssKiB / 1024)} MiB |`);
      say(`| per connection | ${f2(procs)} | ${f1(pss)} KiB | ${f1(rss)} KiB |`);
      say(`| × 10,000 (extrapolated) | ${Math.round(procs * 10_000)} | ${f1((pss * 10_000) / 1024 ** 2)} GiB | ${f1((rss * 10_000) / 1024 ** 2)} GiB |`);
      const top = idle?.levels.at(-1);
      if (top) say(`\nper-connection ratio Airlock / sshd (PSS): ${ratio(top.perConnectionKiB, pss)}`);
    }
  }

  // ---- ProxyJump throughput ----
  if (ONLY.has('throughput')) {
    const load = loadLine();
    const foreign = foreignCpu();
    const res = new Map<string, Transfer[]>();
    const order: PathKind[] = ['openssh', 'airlock', 'direct'];
    // One unmeasured transfer per path first: a running gateway is warm (its packet path compiled), and
    // the OpenSSH side pays its process start-up on every connection whatever we do.
    for (const c of CIPHERS) for (const p of order) await throughput(w, p, c, WARM_BYTES);
    for (let r = 0; r < ROUNDS; r++) {
      for (const c of CIPHERS) {
        // Rotate the order each round so that neither side always runs right after the other.
        for (let i = 0; i < order.length; i++) {
          const p = order[(i + r) % order.length]!;
          const t = await throughput(w, p, c, BYTES);
          note(`  throughput ${p} ${c}: ${f1(t.mbPerSec)} MB/s`);
          res.set(`${p} ${c}`, [...(res.get(`${p} ${c}`) ?? []), t]);
        }
      }
    }
    const med = (p: PathKind, c: Cipher, k: keyof Transfer) => median(res.get(`${p} ${c}`)!.map((t) => t[k] ?? 0));
    say();
    say(`## ProxyJump throughput: \`ssh -J jump target 'wc -c' < ${sizeText}\` (${load} at start, ${loadLine()} at end)`);
    say();
    say(`${others(foreign)}.`);
    say();
    say('| cipher (every hop) | direct, no jump | via OpenSSH sshd | via Airlock | Airlock / OpenSSH | jump host CPU per GiB, OpenSSH / Airlock | machine CPU per GiB, OpenSSH / Airlock |');
    say('|---|---:|---:|---:|---:|---:|---:|');
    for (const c of CIPHERS) {
      say(`| ${c} | ${f1(med('direct', c, 'mbPerSec'))} MB/s | ${f1(med('openssh', c, 'mbPerSec'))} MB/s | ${f1(med('airlock', c, 'mbPerSec'))} MB/s | **${ratio(med('airlock', c, 'mbPerSec'), med('openssh', c, 'mbPerSec'))}** | ${f2(med('openssh', c, 'jumpCpuPerGiB'))} s / ${f2(med('airlock', c, 'jumpCpuPerGiB'))} s | ${f2(med('openssh', c, 'machineCpuPerGiB'))} s / ${f2(med('airlock', c, 'machineCpuPerGiB'))} s |`);
    }
    say(`\nall runs (MB/s): ${[...res].map(([k, v]) => `${k} ${v.map((t) => f1(t.mbPerSec)).join('/')}`).join('; ')}`);
  }

  // ---- -L tunnel throughput ----
  if (ONLY.has('tunnel')) {
    const load = loadLine();
    const foreign = foreignCpu();
    const res = new Map<string, Transfer[]>();
    const jumps: JumpKind[] = ['openssh', 'airlock'];
    for (const c of CIPHERS) for (const j of jumps) await tunnel(w, j, c, WARM_BYTES);
    for (let r = 0; r < ROUNDS; r++) {
      for (const c of CIPHERS) {
        for (let i = 0; i < jumps.length; i++) {
          const j = jumps[(i + r) % jumps.length]!;
          const t = await tunnel(w, j, c, BYTES);
          note(`  tunnel ${j} ${c}: ${f1(t.mbPerSec)} MB/s`);
          res.set(`${j} ${c}`, [...(res.get(`${j} ${c}`) ?? []), t]);
        }
      }
    }
    const med = (j: JumpKind, c: Cipher, k: keyof Transfer) => median(res.get(`${j} ${c}`)!.map((t) => t[k] ?? 0));
    say();
    say(`## \`ssh -N -L\` tunnel throughput: ${sizeText} through the local port to a TCP sink behind the jump host (${load} at start, ${loadLine()} at end)`);
    say();
    say(`${others(foreign)}.`);
    say();
    say('| cipher | via OpenSSH sshd | via Airlock | Airlock / OpenSSH | jump host CPU per GiB, OpenSSH / Airlock | machine CPU per GiB, OpenSSH / Airlock |');
    say('|---|---:|---:|---:|---:|---:|');
    for (const c of CIPHERS) {
      say(`| ${c} | ${f1(med('openssh', c, 'mbPerSec'))} MB/s | ${f1(med('airlock', c, 'mbPerSec'))} MB/s | **${ratio(med('airlock', c, 'mbPerSec'), med('openssh', c, 'mbPerSec'))}** | ${f2(med('openssh', c, 'jumpCpuPerGiB'))} s / ${f2(med('airlock', c, 'jumpCpuPerGiB'))} s | ${f2(med('openssh', c, 'machineCpuPerGiB'))} s / ${f2(med('airlock', c, 'machineCpuPerGiB'))} s |`);
    }
    say(`\nall runs (MB/s): ${[...res].map(([k, v]) => `${k} ${v.map((t) => f1(t.mbPerSec)).join('/')}`).join('; ')}`);
  }

  // ---- connection set-up ----
  if (ONLY.has('setup')) {
    const load = loadLine();
    const foreign = foreignCpu();
    const c: Cipher = CIPHERS[0];
    const full: Record<PathKind, number[]> = { direct: [], airlock: [], openssh: [] };
    const hop: Record<JumpKind, number[]> = { airlock: [], openssh: [] };
    const hopInstant: Record<JumpKind, number[]> = { airlock: [], openssh: [] };
    for (let i = 0; i < WARMUP + RUNS; i++) {
      // Alternate, so that a burst of load elsewhere hits both sides alike.
      const paths: PathKind[] = i % 2 === 0 ? ['openssh', 'airlock', 'direct'] : ['airlock', 'openssh', 'direct'];
      for (const p of paths) {
        const ms = await setupOnce(w, p, c);
        if (i >= WARMUP) full[p].push(ms);
      }
      for (const j of paths.filter((p): p is JumpKind => p !== 'direct')) {
        const ms = await hopOnce(w, j, c);
        if (i >= WARMUP) hop[j].push(ms);
        const instant = await hopOnce(w, j, c, w.bannerPort);
        if (i >= WARMUP) hopInstant[j].push(instant);
      }
    }
    const p = (xs: number[], q: number) => percentile([...xs].sort((a, b) => a - b), q);
    say();
    say(`## Connection set-up, ${RUNS} runs each (${c}; ${load} at start, ${loadLine()} at end)`);
    say();
    say(`${others(foreign)}.`);
    say();
    say('| what | OpenSSH p50 | OpenSSH p95 | Airlock p50 | Airlock p95 | Airlock / OpenSSH, p50 | p95 |');
    say('|---|---:|---:|---:|---:|---:|---:|');
    say(`| \`ssh -J jump target true\` (whole login through the jump) | ${f1(p(full.openssh, 50))} ms | ${f1(p(full.openssh, 95))} ms | ${f1(p(full.airlock, 50))} ms | ${f1(p(full.airlock, 95))} ms | ${ratio(p(full.airlock, 50), p(full.openssh, 50))} | ${ratio(p(full.airlock, 95), p(full.openssh, 95))} |`);
    say(`| jump hop alone: \`ssh -W target:22 jump\` until the target's banner | ${f1(p(hop.openssh, 50))} ms | ${f1(p(hop.openssh, 95))} ms | ${f1(p(hop.airlock, 50))} ms | ${f1(p(hop.airlock, 95))} ms | ${ratio(p(hop.airlock, 50), p(hop.openssh, 50))} | ${ratio(p(hop.airlock, 95), p(hop.openssh, 95))} |`);
    say(`| jump hop to a port that answers at once (no target sshd start-up in it) | ${f1(p(hopInstant.openssh, 50))} ms | ${f1(p(hopInstant.openssh, 95))} ms | ${f1(p(hopInstant.airlock, 50))} ms | ${f1(p(hopInstant.airlock, 95))} ms | **${ratio(p(hopInstant.airlock, 50), p(hopInstant.openssh, 50))}** | **${ratio(p(hopInstant.airlock, 95), p(hopInstant.openssh, 95))}** |`);
    const added = (j: JumpKind, q: number) => p(full[j], q) - p(full.direct, q);
    // Negative when the login through the jump is faster than the direct one (see docs/performance.md).
    const addedRatio = (q: number) => (added('airlock', q) <= 0 ? 'none added' : ratio(added('airlock', q), added('openssh', q)));
    say(`| added by the jump host: \`ssh -J\` above − \`ssh target true\` with no jump (same percentile) | ${f1(added('openssh', 50))} ms | ${f1(added('openssh', 95))} ms | ${f1(added('airlock', 50))} ms | ${f1(added('airlock', 95))} ms | ${addedRatio(50)} | ${addedRatio(95)} |`);
    say(`\nreference: \`ssh target true\` with no jump: p50 ${f1(p(full.direct, 50))} ms, p95 ${f1(p(full.direct, 95))} ms.`);
    const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b).map((x) => x.toFixed(0)).join(' ');
    say(`all runs, sorted (ms): ssh -J via OpenSSH ${sorted(full.openssh)}; via Airlock ${sorted(full.airlock)}; direct ${sorted(full.direct)}; -W hop via OpenSSH ${sorted(hop.openssh)}; via Airlock ${sorted(hop.airlock)}; -W hop to the banner port via OpenSSH ${sorted(hopInstant.openssh)}; via Airlock ${sorted(hopInstant.airlock)}`);
  }
  say();
  say(`${loadLine()} at end`);
} catch (err) {
  failed = true;
  console.error(err);
  console.error(`--- airlock serve (last lines):\n${w.airlock.logs().slice(-3000)}`);
} finally {
  await w.stop();
}
if (failed) process.exitCode = 1;
