/**
 * The gateway benchmark's world, all on loopback and all stopped at the end: a real `airlock serve`
 * (the gateway under test), an OpenSSH sshd as the comparison jump host, a second sshd as the target
 * that both reach, a TCP sink behind them for tunnels, one user with an Airlock certificate, and an
 * ssh config with one Host block per path and cipher (ProxyJump does not pass `-o` options to the
 * jump hop, so ciphers and key exchange are set in the blocks).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminOk as admin, startAirlock, type RunningAirlock } from '../test/harness/airlock.ts';
import { pidByCmdline } from './proc-stats.ts';
import { writeUserCertificate } from './user-certificate.ts';
import { startSshd, type TestSshd } from '../test/harness/sshd.ts';
import { run, stopProcess } from '../test/harness/processes.ts';

export const CIPHERS = ['chacha20-poly1305@openssh.com', 'aes128-gcm@openssh.com'] as const;
export type Cipher = (typeof CIPHERS)[number];
/** Which way the client reaches the target: straight, through Airlock, through an OpenSSH jump host. */
export type PathKind = 'direct' | 'airlock' | 'openssh';
export type JumpKind = Exclude<PathKind, 'direct'>;

const USER = 'bench';
const KEX = 'curve25519-sha256';

export interface SinkReport {
  bytes: number;
  ms: number;
}

export interface BenchWorld {
  dir: string;
  airlock: RunningAirlock;
  /** Gateway listener. */
  gateway: { host: string; port: number };
  /** The OpenSSH jump host and its listener process (connections are its children). */
  jump: TestSshd & { pid: number };
  target: TestSshd & { pid: number };
  sinkPort: number;
  /** A port next to the target that answers with an SSH banner at once (gateway-sink.ts). */
  bannerPort: number;
  user: { name: string; key: string; cert: string };
  sshConfig: string;
  /** Host alias of the target reached by `path` with `cipher` on every hop. */
  targetAlias(path: PathKind, cipher: Cipher): string;
  /** Host alias of a jump host itself (for -W and -L). */
  jumpAlias(jump: JumpKind, cipher: Cipher): string;
  /** The next sink report for a connection that carried at least `minBytes`. */
  sinkReport(minBytes: number, timeoutMs: number): Promise<SinkReport>;
  stop(): Promise<void>;
}

const short = (c: Cipher): string => (c.startsWith('chacha') ? 'chacha' : 'aesgcm');

function startSink(): Promise<{ child: ChildProcess; port: number; bannerPort: number; reports: SinkReport[]; waiters: (() => void)[] }> {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'gateway-sink.ts')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const reports: SinkReport[] = [];
  const waiters: (() => void)[] = [];
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = JSON.parse(line) as { port?: number; bannerPort?: number } & Partial<SinkReport>;
      if (m.port !== undefined) resolve({ child, port: m.port, bannerPort: m.bannerPort ?? 0, reports, waiters });
      else {
        reports.push({ bytes: m.bytes!, ms: m.ms! });
        for (const w of waiters.splice(0)) w();
      }
    });
  });
}

/** Sets everything up; `serverEnv` is added to `airlock serve`'s environment (e.g. NODE_OPTIONS for a profile). */
export async function startWorld(serverEnv: NodeJS.ProcessEnv = {}): Promise<BenchWorld> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-gw-'));
  const stops: (() => Promise<void>)[] = [];
  // Should this process die without stopping them (an uncaught error), its servers go with it.
  const pids: number[] = [];
  const killLeftovers = () => {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  process.once('exit', killLeftovers);
  const stopAll = async () => {
    for (const s of stops.reverse()) await s().catch((e: unknown) => console.error('stop failed:', e));
    process.off('exit', killLeftovers);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // The loopback switch is for tests and benchmarks only: the targets here live on 127.0.0.1. The idle
    // benchmark holds thousands of connections of one user from a few addresses: lift the per-user limits.
    const airlock = await startAirlock(join(dir, 'data'), {
      AIRLOCK_GATEWAY_ALLOW_LOOPBACK_TARGETS: '1', AIRLOCK_GATEWAY_MAX_CONNECTIONS_PER_USER: '100000',
      AIRLOCK_GATEWAY_MAX_CONNECTIONS_PER_ADDRESS: '1000000', AIRLOCK_GATEWAY_MAX_CHANNELS_PER_USER: '1000000', ...serverEnv,
    });
    stops.push(() => airlock.stop());
    pids.push(airlock.pid);
    if (!airlock.ssh) throw new Error('airlock serve reports no SSH listener');
    const [gwHost, gwPort] = [airlock.ssh.slice(0, airlock.ssh.lastIndexOf(':')), Number(airlock.ssh.slice(airlock.ssh.lastIndexOf(':') + 1))];

    await admin(airlock, ['user', 'add', USER, '--password-stdin', '--json'], 'bench password, never used to sign in\n');
    const { key, cert } = await writeUserCertificate(airlock.dataDir, dir, USER);

    // Both sshds trust the CA exactly as a compute node would, from `airlock admin sshd-config`.
    const sshdLines = async (sub: string) => (await admin(airlock, ['sshd-config', '--output-dir', join(dir, sub), '--account', `root=${USER}`])).trim().split('\n');
    // The harness sets SHLVL=1 on every test sshd, which keeps a Debian bash from reading ~/.bashrc for
    // commands run over ssh: this machine's root rc files take seconds, which would drown the jump hosts' share.
    const targetSshd = await startSshd(join(dir, 'target'), [...await sshdLines('target'), 'AllowTcpForwarding yes']);
    stops.push(() => targetSshd.stop());
    const target = { ...targetSshd, pid: pidByCmdline(join(dir, 'target', 'sshd_config')) };
    pids.push(target.pid);
    const jumpSshd = await startSshd(join(dir, 'jump'), [...await sshdLines('jump'), 'AllowTcpForwarding yes']);
    stops.push(() => jumpSshd.stop());
    const jump = { ...jumpSshd, pid: pidByCmdline(join(dir, 'jump', 'sshd_config')) };
    pids.push(jump.pid);

    const sink = await startSink();
    pids.push(sink.child.pid!);
    stops.push(async () => {
      sink.child.stdin!.end();
      await stopProcess(sink.child, 2000);
    });

    await admin(airlock, ['project', 'add', 'bench']);
    await admin(airlock, ['project', 'member', 'add', 'bench', USER]);
    await admin(airlock, ['target', 'add', 'node', '--project', 'bench', '--address', `127.0.0.1:${target.port}`, '--user', 'root', '--service', `sink=${sink.port}`, '--service', `banner=${sink.bannerPort}`]);

    const info = (await (await fetch(`${airlock.httpUrl}/api/v1/gateway`)).json()) as { known_hosts: string };
    const knownHosts = join(dir, 'known_hosts');
    writeFileSync(knownHosts, [info.known_hosts, jump.knownHostsLine, target.knownHostsLine, ''].join('\n'));

    const lines: string[] = [];
    const identity = [`User ${USER}`, `IdentityFile ${key}`, `CertificateFile ${cert}`, 'IdentitiesOnly yes'];
    for (const c of CIPHERS) {
      const s = short(c);
      lines.push(`Host gw-${s}`, `  HostName ${gwHost}`, `  Port ${gwPort}`, ...identity.map((l) => `  ${l}`), `  Ciphers ${c}`, '');
      lines.push(`Host jump-${s}`, '  HostName 127.0.0.1', `  Port ${jump.port}`, '  User root', ...identity.slice(1).map((l) => `  ${l}`), `  Ciphers ${c}`, '');
      for (const [p, via] of [['direct', null], ['airlock', `gw-${s}`], ['openssh', `jump-${s}`]] as const) {
        lines.push(`Host t-${p}-${s}`, '  HostName 127.0.0.1', `  Port ${target.port}`, '  User root', ...identity.slice(1).map((l) => `  ${l}`), `  Ciphers ${c}`);
        if (via) lines.push(`  ProxyJump ${via}`);
        lines.push('');
      }
    }
    lines.push('Host *', `  UserKnownHostsFile ${knownHosts}`, '  GlobalKnownHostsFile /dev/null', '  StrictHostKeyChecking yes', '  BatchMode yes',
      '  ConnectTimeout 10', '  LogLevel ERROR', `  KexAlgorithms ${KEX}`, '  ControlMaster no', '  ControlPath none', '  UpdateHostKeys no',
      '  Compression no', '  ForwardAgent no', '');
    const sshConfig = join(dir, 'ssh_config');
    writeFileSync(sshConfig, lines.join('\n'));

    // Every path logs in before anything is measured.
    for (const c of CIPHERS) {
      for (const p of ['direct', 'airlock', 'openssh'] as const) {
        const r = await run('ssh', ['-F', sshConfig, `t-${p}-${short(c)}`, 'true'], { env: { ...process.env, SSH_AUTH_SOCK: '' }, timeoutMs: 30_000 });
        if (r.code !== 0) throw new Error(`ssh to the target (${p}, ${c}) failed: ${r.stderr}\n--- airlock:\n${airlock.logs().slice(-3000)}\n--- jump sshd:\n${jump.logs().slice(-2000)}\n--- target sshd:\n${target.logs().slice(-2000)}`);
      }
    }

    return {
      dir, airlock, gateway: { host: gwHost, port: gwPort }, jump, target, sinkPort: sink.port, bannerPort: sink.bannerPort,
      user: { name: USER, key, cert }, sshConfig,
      targetAlias: (p, c) => `t-${p}-${short(c)}`,
      jumpAlias: (j, c) => `${j === 'airlock' ? 'gw' : 'jump'}-${short(c)}`,
      async sinkReport(minBytes, timeoutMs) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const i = sink.reports.findIndex((r) => r.bytes >= minBytes);
          if (i >= 0) return sink.reports.splice(0, i + 1).at(-1)!;
          if (Date.now() > deadline) throw new Error(`the sink received no connection of ${minBytes} bytes within ${timeoutMs} ms (saw ${JSON.stringify(sink.reports)})`);
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, 1000);
            sink.waiters.push(() => {
              clearTimeout(t);
              resolve();
            });
          });
        }
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
