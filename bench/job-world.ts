/**
 * The per-job proxy benchmark's world, all on loopback and all stopped at the end: a real `airlock serve`
 * with job ports (AIRLOCK_JOB_PORTS), a real OpenSSH sshd as the job (trusting Airlock's user CA through
 * `airlock admin sshd-config`), a job registered with `airlock admin job add` whose port the gateway
 * listens on, a second sshd as the ProxyJump comparison, one user with an Airlock certificate, and an
 * ssh config with one Host block per path (ProxyJump does not pass `-o` options to the jump hop, so
 * ciphers and key exchange are set in the blocks).
 */
import type { KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminOk as admin, startAirlock, type RunningAirlock } from '../test/harness/airlock.ts';
import { pidByCmdline } from './proc-stats.ts';
import { writeUserCertificate } from './user-certificate.ts';
import { startSshd, type TestSshd } from '../test/harness/sshd.ts';
import { freePort, run, waitFor } from '../test/harness/processes.ts';

const USER = 'bench';
const KEX = 'curve25519-sha256';

/** Which way the client reaches the job: through the gateway's job port, straight, through an OpenSSH jump host. */
export type JobPath = 'proxy' | 'direct' | 'jump';

export interface JobWorld {
  dir: string;
  airlock: RunningAirlock;
  /** The job's port on the gateway. */
  jobPort: number;
  job: TestSshd & { pid: number };
  jump: TestSshd & { pid: number };
  /** The user's key file and certificate file, and the same key and certificate in memory (for ssh2 clients). */
  user: { name: string; key: string; cert: string; privateKey: KeyObject; certBlob: Buffer };
  sshConfig: string;
  /** Host alias for `path` (`ssh -F sshConfig ALIAS`; the proxy's alias connects with `-p PORT` semantics: Port in its block). */
  alias(path: JobPath): string;
  stop(): Promise<void>;
}

/**
 * Sets everything up. `serverEnv` is added to `airlock serve`'s environment (e.g. NODE_OPTIONS for a
 * profile); `cipher` is used on every hop the client controls.
 */
export async function startJobWorld(cipher: string, serverEnv: NodeJS.ProcessEnv = {}): Promise<JobWorld> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-job-'));
  const stops: (() => Promise<void>)[] = [];
  // Should this process die without stopping them (an uncaught error), its servers go with it.
  const pids: number[] = [];
  const killLeftovers = (): void => {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  process.once('exit', killLeftovers);
  const stopAll = async (): Promise<void> => {
    for (const s of stops.reverse()) await s().catch((e: unknown) => console.error('stop failed:', e));
    process.off('exit', killLeftovers);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const portBase = await freePort();
    // The idle section holds up to 1,000 sessions of one user from one address, logging in 32 at a time:
    // lift the per-user and per-address limits.
    const airlock = await startAirlock(join(dir, 'data'), {
      AIRLOCK_JOB_PORTS: `${portBase}-${portBase + 3}`, AIRLOCK_GATEWAY_PENALTIES: 'off',
      AIRLOCK_GATEWAY_MAX_CONNECTIONS_PER_USER: '100000', AIRLOCK_GATEWAY_MAX_CONNECTIONS_PER_ADDRESS: '1000000',
      AIRLOCK_GATEWAY_MAX_CHANNELS_PER_USER: '1000000', AIRLOCK_GATEWAY_MAX_UNAUTH_PER_ADDRESS: '100', ...serverEnv,
    });
    stops.push(() => airlock.stop());
    pids.push(airlock.pid);

    await admin(airlock, ['user', 'add', USER, '--password-stdin', '--json'], 'bench password, never used to sign in\n');
    await admin(airlock, ['project', 'add', 'bench']);
    await admin(airlock, ['project', 'member', 'add', 'bench', USER]);
    const { key, cert, privateKey, certBlob } = await writeUserCertificate(airlock.dataDir, dir, USER);

    // Both sshds trust the CA as a compute node would. root takes the bench user's certificate (the
    // direct and jump paths) and the proxy's session certificates (principal = the job's login user).
    const sshdLines = async (sub: string): Promise<string[]> =>
      (await admin(airlock, ['sshd-config', '--output-dir', join(dir, sub), '--account', `root=${USER},root`])).trim().split('\n');
    // (The harness's SHLVL=1 keeps Debian's bash from reading root's ~/.bashrc for each command.)
    // MaxStartups: the idle section logs in up to 32 proxied sessions at once.
    const jobSshd = await startSshd(join(dir, 'job'), [...await sshdLines('job'), 'AllowTcpForwarding yes', 'Subsystem sftp internal-sftp', 'MaxStartups 200']);
    stops.push(() => jobSshd.stop());
    const job = { ...jobSshd, pid: pidByCmdline(join(dir, 'job', 'sshd_config')) };
    pids.push(job.pid);
    const jumpSshd = await startSshd(join(dir, 'jump'), [...await sshdLines('jump'), 'AllowTcpForwarding yes']);
    stops.push(() => jumpSshd.stop());
    const jump = { ...jumpSshd, pid: pidByCmdline(join(dir, 'jump', 'sshd_config')) };
    pids.push(jump.pid);

    // The job, as an operator registers it: its sshd's host public key pinned.
    const hostKeyFile = join(dir, 'job-host-key.pub');
    writeFileSync(hostKeyFile, jobSshd.hostKeyPub + '\n');
    const added = JSON.parse(await admin(airlock, ['job', 'add', 'job1', '--project', 'bench', '--host', '127.0.0.1', '--ssh-port', String(job.port),
      '--user', 'root', '--host-key', hostKeyFile, '--expires', '24h', '--owner', USER, '--json'])) as { port: number };
    const jobPort = added.port;

    const info = (await (await fetch(`${airlock.httpUrl}/api/v1/gateway`)).json()) as { known_hosts: string };
    const gwKey = info.known_hosts.trim().split(/\s+/).slice(1).join(' ');
    const knownHosts = join(dir, 'known_hosts');
    writeFileSync(knownHosts, [`[127.0.0.1]:${jobPort} ${gwKey}`, jump.knownHostsLine, job.knownHostsLine, ''].join('\n'));

    const identity = [`IdentityFile ${key}`, `CertificateFile ${cert}`, 'IdentitiesOnly yes', `Ciphers ${cipher}`].map((l) => `  ${l}`);
    const sshConfig = join(dir, 'ssh_config');
    writeFileSync(sshConfig, [
      'Host proxy', '  HostName 127.0.0.1', `  Port ${jobPort}`, `  User ${USER}`, ...identity, '',
      'Host job', '  HostName 127.0.0.1', `  Port ${job.port}`, '  User root', ...identity, '',
      'Host jump', '  HostName 127.0.0.1', `  Port ${jump.port}`, '  User root', ...identity, '',
      'Host job-via-jump', '  HostName 127.0.0.1', `  Port ${job.port}`, '  User root', '  ProxyJump jump', ...identity, '',
      'Host *', `  UserKnownHostsFile ${knownHosts}`, '  GlobalKnownHostsFile /dev/null', '  StrictHostKeyChecking yes', '  BatchMode yes',
      '  ConnectTimeout 10', '  LogLevel ERROR', `  KexAlgorithms ${KEX}`, '  ControlMaster no', '  ControlPath none', '  UpdateHostKeys no',
      '  Compression no', '  ForwardAgent no', '',
    ].join('\n'));
    const aliases: Record<JobPath, string> = { proxy: 'proxy', direct: 'job', jump: 'job-via-jump' };

    // The gateway picks the job up within its reconcile interval; every path logs in before anything is measured.
    await waitFor('the job port to accept a login', async () => {
      const r = await run('ssh', ['-F', sshConfig, 'proxy', 'true'], { env: { ...process.env, SSH_AUTH_SOCK: '' }, timeoutMs: 30_000 });
      return r.code === 0 ? true : undefined;
    }, 15_000, 200);
    for (const p of ['direct', 'jump', 'proxy'] as const) {
      const r = await run('ssh', ['-F', sshConfig, aliases[p], 'true'], { env: { ...process.env, SSH_AUTH_SOCK: '' }, timeoutMs: 30_000 });
      if (r.code !== 0) throw new Error(`ssh to the job (${p}) failed: ${r.stderr}\n--- airlock:\n${airlock.logs().slice(-3000)}\n--- job sshd:\n${job.logs().slice(-2000)}`);
    }
    return { dir, airlock, jobPort, job, jump, user: { name: USER, key, cert, privateKey, certBlob }, sshConfig, alias: (p) => aliases[p], stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
