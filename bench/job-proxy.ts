/**
 * Per-job proxy benchmark (issue 13 item 7), in one run on loopback: the same real sshd job reached
 *  - through a job port of a real `airlock serve` (AIRLOCK_JOB_PORTS; the job registered with
 *    `airlock admin job add`), with stock `ssh`, `scp` and `sftp` at that port (bench/job-world.ts),
 *  - with `ssh` straight to the job's sshd,
 *  - with an OpenSSH ProxyJump (a second sshd as the jump host),
 * for `ssh … 'cat > /dev/null'`, `scp -O` and `sftp` of BENCH_BYTES (1 GiB) each, with the CPU per GiB
 * of each process group (client processes, the serve process or the jump sshd, the job's sshd); the
 * connection set-up p50 the proxy adds over `ssh` straight to the job; and the memory of BENCH_IDLE
 * (1,000) idle proxied sessions (researcher connection logged in, the proxy's own connection to the job
 * logged in).
 *
 *   npm run bench:jobs
 *   BENCH_BYTES=256M BENCH_RUNS=5 BENCH_IDLE=200 npm run bench:jobs     # quick look
 *
 * Knobs: BENCH_BYTES (K/M/G), BENCH_ROUNDS (transfers per path and tool, median reported), BENCH_RUNS
 * (set-up samples per path), BENCH_IDLE (idle sessions; 0 skips), BENCH_CIPHER (default
 * aes128-gcm@openssh.com, on every hop the client controls; the proxy's own hop prefers aes128-gcm),
 * BENCH_TOOLS (any of `ssh cat,scp,sftp`), BENCH_PATHS (any of `direct,jump,proxy`),
 * BENCH_SERVER_NODE_OPTIONS (NODE_OPTIONS for `airlock serve` only, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`).
 */
import { parseByteSize } from '../src/config.ts';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { useCertificateForPublickey } from '../src/gateway/ssh2-client-cert-auth.ts';
import { formatOpenSshPrivateKey } from '../src/ssh/private-key.ts';
import { startJobWorld, type JobPath } from './job-world.ts';
import { foreignCpu, loadLine, median, percentile, processCpuSeconds, rssKiB, treeCpuSecondsWithExited } from './proc-stats.ts';

const env = process.env;
const BYTES = parseByteSize(env.BENCH_BYTES ?? '1G', 'BENCH_BYTES');
const ROUNDS = Math.max(1, Number(env.BENCH_ROUNDS ?? 1));
const RUNS = Math.max(1, Number(env.BENCH_RUNS ?? 20));
const IDLE = Math.max(0, Number(env.BENCH_IDLE ?? 1000));
const CIPHER = env.BENCH_CIPHER ?? 'aes128-gcm@openssh.com';
const TOOLS = (env.BENCH_TOOLS ?? 'ssh cat,scp,sftp').split(',').map((s) => s.trim()) as Tool[];
const PATHS = (env.BENCH_PATHS ?? 'direct,jump,proxy').split(',').map((s) => s.trim()) as Path[];
const GIB = 1024 ** 3;
const say = (s = ''): void => console.log(s);

const world = await startJobWorld(CIPHER, env.BENCH_SERVER_NODE_OPTIONS ? { NODE_OPTIONS: env.BENCH_SERVER_NODE_OPTIONS } : {});
const servePid = world.airlock.pid;
/** CPU seconds of this process's exited, waited-for children (cutime + cstime): the client commands. */
const self = (): number => {
  const s = readFileSync('/proc/self/stat', 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) / 100;
};
const config = world.sshConfig;

type Path = JobPath;
const destination: Record<Path, string> = { proxy: world.alias('proxy'), direct: world.alias('direct'), jump: world.alias('jump') };
const middlePid: Record<Path, number> = { proxy: servePid, direct: 0, jump: world.jump.pid };

/** Runs a command to completion; rejects on a non-zero exit. */
function runCmd(cmd: string, args: string[], stdinFile?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const shell = stdinFile === undefined ? spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] })
      : spawn('sh', ['-c', `head -c ${BYTES} /dev/zero | "$0" "$@"`, cmd, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    shell.stderr.on('data', (d: Buffer) => (err += d.toString()));
    shell.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err}`))));
  });
}

const bigFile = join(world.dir, 'big.bin');
await runCmd('sh', ['-c', `head -c ${BYTES} /dev/zero > ${bigFile}`]);
const batch = join(world.dir, 'sftp-batch');
writeFileSync(batch, `put ${bigFile} /dev/null\n`);

type Tool = 'ssh cat' | 'scp' | 'sftp';
function toolCommand(tool: Tool, path: Path): [string, string[], string | undefined] {
  const dest = destination[path];
  switch (tool) {
    case 'ssh cat': return ['ssh', ['-F', config, dest, 'cat > /dev/null'], 'zero'];
    case 'scp': return ['scp', ['-O', '-F', config, bigFile, `${dest}:/dev/null`], undefined];
    case 'sftp': return ['sftp', ['-F', config, '-b', batch, dest], undefined];
  }
}

interface Measured { mbps: number; clientCpu: number; middleCpu: number; jobCpu: number }
async function transfer(tool: Tool, path: Path): Promise<Measured> {
  const [cmd, args, stdin] = toolCommand(tool, path);
  const c0 = self();
  const m0 = middlePid[path] === servePid ? processCpuSeconds(servePid) : middlePid[path] ? treeCpuSecondsWithExited(middlePid[path]) : 0;
  const j0 = treeCpuSecondsWithExited(world.job.pid);
  const t0 = process.hrtime.bigint();
  await runCmd(cmd, args, stdin);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const m1 = middlePid[path] === servePid ? processCpuSeconds(servePid) : middlePid[path] ? treeCpuSecondsWithExited(middlePid[path]) : 0;
  const gib = BYTES / GIB;
  return {
    mbps: BYTES / 1e6 / secs, clientCpu: (self() - c0) / gib, middleCpu: (m1 - m0) / gib,
    jobCpu: (treeCpuSecondsWithExited(world.job.pid) - j0) / gib,
  };
}

const sizeText = BYTES % GIB === 0 ? `${BYTES / GIB} GiB` : `${(BYTES / 1024 ** 2).toFixed(0)} MiB`;
say(`# Per-job proxy benchmark — ${new Date().toISOString()}, ${loadLine()}, cipher ${CIPHER}, ${sizeText} per transfer, ${ROUNDS} round(s)`);
say();
say('| tool | path | throughput | client CPU s/GiB | proxy or jump host CPU s/GiB | job sshd CPU s/GiB |');
say('|---|---|---:|---:|---:|---:|');
const foreign = foreignCpu();
const results = new Map<string, Measured>();
for (const tool of TOOLS) {
  for (const path of PATHS) {
    const rounds: Measured[] = [];
    for (let i = 0; i < ROUNDS; i++) rounds.push(await transfer(tool, path));
    const med = (f: (m: Measured) => number): number => median(rounds.map(f));
    const m: Measured = { mbps: med((r) => r.mbps), clientCpu: med((r) => r.clientCpu), middleCpu: med((r) => r.middleCpu), jobCpu: med((r) => r.jobCpu) };
    results.set(`${tool}/${path}`, m);
    say(`| ${tool} | ${path} | ${m.mbps.toFixed(0)} MB/s | ${m.clientCpu.toFixed(2)} | ${path === 'direct' ? '—' : m.middleCpu.toFixed(2)} | ${m.jobCpu.toFixed(2)} |`);
  }
}
const share = foreign.stop();
say();
for (const tool of TOOLS) {
  const p = results.get(`${tool}/proxy`);
  const jumpResult = results.get(`${tool}/jump`);
  const directResult = results.get(`${tool}/direct`);
  if (p === undefined || jumpResult === undefined || directResult === undefined) continue;
  say(`- ${tool}: proxy / ProxyJump ${(p.mbps / jumpResult.mbps).toFixed(2)}×, proxy / direct ${(p.mbps / directResult.mbps).toFixed(2)}×`);
}
say(`- other processes (not this benchmark) used ${(share.share * 100).toFixed(0)}% of the machine during the transfers`);

// Set-up: `ssh X true`, proxy against direct.
async function setupMs(path: Path): Promise<number> {
  const t0 = process.hrtime.bigint();
  await runCmd('ssh', ['-F', config, destination[path], 'true']);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
const samples: Record<'proxy' | 'direct', number[]> = { proxy: [], direct: [] };
for (let i = 0; i < 2; i++) {
  await setupMs('proxy');
  await setupMs('direct');
}
for (let i = 0; i < RUNS; i++) {
  samples.direct.push(await setupMs('direct'));
  samples.proxy.push(await setupMs('proxy'));
}
for (const s of Object.values(samples)) s.sort((a, b) => a - b);
const p50 = (p: 'proxy' | 'direct') => percentile(samples[p], 50);
const added = p50('proxy') - p50('direct');
say();
say(`Set-up, \`ssh … true\`, ${RUNS} runs each: direct p50 ${p50('direct').toFixed(1)} ms (p95 ${percentile(samples.direct, 95).toFixed(1)}), `
  + `through the proxy p50 ${p50('proxy').toFixed(1)} ms (p95 ${percentile(samples.proxy, 95).toFixed(1)}); added by the proxy: p50 **${added <= 0 ? 'none added' : `${added.toFixed(1)} ms`}**`);

// Idle proxied sessions: the proxy process's memory with IDLE logged-in sessions (both legs).
if (IDLE > 0) {
  const before = rssKiB(servePid);
  const key = formatOpenSshPrivateKey(world.user.privateKey, '');
  const clients: ssh2.Client[] = [];
  let next = 0;
  let failed = 0;
  const open = async (): Promise<void> => {
    while (next < IDLE) {
      next++;
      const c = new ssh2.Client();
      c.on('error', () => undefined);
      useCertificateForPublickey(c, world.user.certBlob, world.user.privateKey);
      try {
        await new Promise<void>((resolve, reject) => {
          c.once('ready', () => resolve());
          c.once('error', reject);
          c.connect({ host: '127.0.0.1', port: world.jobPort, username: world.user.name, privateKey: key, hostVerifier: () => true, readyTimeout: 60_000 });
        });
        clients.push(c);
      } catch {
        failed++;
      }
    }
  };
  const t0 = Date.now();
  await Promise.all(Array.from({ length: 32 }, open));
  // Wait until the proxy's own connections to the job are up: the job's sshd has a process per login.
  const jobLogins = (): number => readFileSync(`/proc/${world.job.pid}/task/${world.job.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).length;
  for (let i = 0; i < 600 && jobLogins() < clients.length; i++) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 2000)); // let garbage collection settle after the burst
  const after = rssKiB(servePid);
  say();
  say(`Idle proxied sessions: ${clients.length} logged in (${failed} failed) in ${((Date.now() - t0) / 1000).toFixed(1)} s, ${jobLogins()} job logins; `
    + `proxy process RSS ${(before / 1024).toFixed(0)} MiB before, ${(after / 1024).toFixed(0)} MiB after: **${((after - before) / 1024).toFixed(1)} MiB** for ${clients.length} sessions `
    + `(${((after - before) / Math.max(1, clients.length)).toFixed(0)} KiB each)`);
  for (const c of clients) c.end();
}

await world.stop();
