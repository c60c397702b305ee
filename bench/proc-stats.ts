/**
 * Linux /proc readings for benchmarks: CPU seconds and memory of a process or a process tree (sshd
 * forks per connection, so its cost is spread over descendants), the machine's load and busy time.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** USER_HZ: /proc counts CPU time in clock ticks of 1/100 s on Linux. */
const TICKS = 100;

function statFields(pid: number): string[] | undefined {
  try {
    // The command name is in parentheses and may contain spaces: split after the last ')'.
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined; // the process has exited
  }
}

/** User + system CPU seconds a process has used so far (0 once it has exited). */
export function processCpuSeconds(pid: number): number {
  const f = statFields(pid);
  return f === undefined ? 0 : (Number(f[11]) + Number(f[12])) / TICKS; // utime, stime
}

/**
 * CPU seconds used by a process tree so far, counting children that have exited and been waited for
 * (cutime, cstime of their parents): with `process.pid` as root, everything this benchmark started.
 */
export function treeCpuSecondsWithExited(root: number): number {
  let sum = 0;
  for (const p of processTree(root)) {
    const f = statFields(p);
    if (f !== undefined) sum += (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / TICKS;
  }
  return sum;
}

/**
 * Measures how much of the machine other processes (not descendants of this one) used between start
 * and stop: the benchmark's own processes raise the load average, so the load alone cannot tell.
 */
export function foreignCpu(): { stop(): { share: number; seconds: number } } {
  const m0 = machineCpuSeconds();
  const own0 = treeCpuSecondsWithExited(process.pid);
  return {
    stop() {
      const m1 = machineCpuSeconds();
      const seconds = Math.max(0, m1.busy - m0.busy - (treeCpuSecondsWithExited(process.pid) - own0));
      return { seconds, share: seconds / Math.max(1e-9, m1.total - m0.total) };
    },
  };
}

/** Every live process whose ancestry includes `root`, `root` included. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(Number(name));
    if (f === undefined) continue;
    const ppid = Number(f[1]);
    const list = children.get(ppid);
    if (list) list.push(Number(name));
    else children.set(ppid, [Number(name)]);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length > 0 && out.length < 100_000) {
    const pid = stack.pop()!;
    out.push(pid);
    for (const c of children.get(pid) ?? []) stack.push(c);
  }
  return out;
}

function kib(text: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

/** Resident set size (VmRSS) of a process in KiB; 0 once it has exited. */
export function rssKiB(pid: number): number {
  try {
    return kib(readFileSync(`/proc/${pid}/status`, 'utf8'), 'VmRSS');
  } catch {
    return 0;
  }
}

/** Proportional set size (shared pages divided among their sharers) in KiB; 0 once it has exited. */
export function pssKiB(pid: number): number {
  try {
    return kib(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'), 'Pss');
  } catch {
    return 0;
  }
}

/** RSS and PSS summed over a process tree, and how many processes it has. */
export function treeMemory(root: number): { processes: number; rssKiB: number; pssKiB: number } {
  const pids = processTree(root);
  let rss = 0;
  let pss = 0;
  for (const p of pids) {
    rss += rssKiB(p);
    pss += pssKiB(p);
  }
  return { processes: pids.length, rssKiB: rss, pssKiB: pss };
}

/** The 1-, 5- and 15-minute load averages. */
export function loadAverage(): [number, number, number] {
  const [a, b, c] = readFileSync('/proc/loadavg', 'utf8').split(' ').map(Number);
  return [a!, b!, c!];
}

/** `load 0.52 0.61 0.70` for reports. */
export function loadLine(): string {
  return `load ${loadAverage().map((x) => x.toFixed(2)).join(' ')}`;
}

/** Busy and total CPU seconds of the whole machine so far (all cores; from /proc/stat). */
export function machineCpuSeconds(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0); // idle + iowait
  return { busy: (total - idle) / TICKS, total: total / TICKS };
}

/**
 * Samples the CPU seconds of a process tree until stopped. Per-connection sshd processes exit when
 * their connection ends, taking their counters with them, so the last value seen for each pid is kept
 * (at most one sampling interval is lost per process).
 */
export function sampleTreeCpu(root: number, intervalMs = 100): { stop(): number } {
  const seen = new Map<number, number>();
  const base = new Map<number, number>();
  for (const p of processTree(root)) base.set(p, processCpuSeconds(p));
  const tick = () => {
    for (const p of processTree(root)) {
      const s = processCpuSeconds(p);
      if (s > 0) seen.set(p, s);
    }
  };
  const timer = setInterval(tick, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      tick();
      let sum = 0;
      for (const [p, s] of seen) sum += s - (base.get(p) ?? 0);
      return sum;
    },
  };
}

/** The value at percentile `p` (0–100) of an ascending list. */
export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** The median of a list (any order). */
export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Peak resident set size (VmHWM) of a process in KiB; 0 once it has exited. */
export function peakRssKiB(pid: number): number {
  try {
    return kib(readFileSync(`/proc/${pid}/status`, 'utf8'), 'VmHWM');
  } catch {
    return 0;
  }
}

/** Open file descriptors of a process. */
export function openFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

/** The soft and hard limits on open files of a process. */
export function fdLimits(pid: number | 'self'): { soft: number; hard: number } {
  const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  const n = (s: string | undefined) => (s === undefined || s === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(s));
  return { soft: n(m?.[1]), hard: n(m?.[2]) };
}

/** The pid of the process whose command line contains `needle` (sshd started by the harness). */
export function pidByCmdline(needle: string): number {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(needle)) return Number(name);
    } catch {
      // exited meanwhile
    }
  }
  throw new Error(`no process with ${needle} on its command line`);
}
