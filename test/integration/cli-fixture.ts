/**
 * The researcher CLI's world for end-to-end tests: Airlock (HTTP API and gateway, in this process),
 * a user "alice" enrolled with password and TOTP, a project, a real sshd target "vm1" that trusts the
 * user CA and presents a host certificate for its name (so no trust-on-first-use prompt can happen),
 * a Jupyter-like HTTP service on it, and a temporary HOME where the real `airlock` binary runs.
 * ssh finds ~/.ssh/config through the passwd entry, not $HOME: tests pass `-F $HOME/.ssh/config`.
 */
import { openSync, closeSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { airlock } from '../harness/airlock.ts';
import { freePort, run, type RunResult } from '../harness/processes.ts';
import { startSshd, type TestSshd } from '../harness/sshd.ts';
import { startHttpService, startTestGateway, type TestGateway } from '../harness/gateway.ts';
import { enrolUser } from '../../src/identity/local-login.ts';
import { LOW_COST_FOR_TESTS } from '../../src/identity/password.ts';
import { currentTotp } from '../../src/identity/totp.ts';

export const PASSWORD = 'correct horse battery staple';
export const SERVICE_TOKEN = 'tok-7c1e';

export interface CliWorld {
  gw: TestGateway;
  node: TestSshd;
  web: Awaited<ReturnType<typeof startHttpService>>;
  /** A registered service port on vm1 where nothing listens. */
  idlePort: number;
  home: string;
  totpSecret: string;
  recoveryCodes: string[];
  env(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  /** Runs the real `airlock` binary with the world's HOME. */
  cli(args: string[], opts?: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<RunResult>;
  /** `airlock login` as alice (with a recovery code when the TOTP code of this step was used already). */
  login(extra?: string[]): Promise<RunResult>;
  /** The user's ssh config, as the tests pass it to ssh with -F. */
  sshConfig: string;
  stop(): Promise<void>;
}

/**
 * Runs a command with no controlling terminal (setsid), so that any prompt would fail instead of
 * waiting, and with output in files: a ControlPersist master outlives the command and would keep
 * pipes open.
 */
export async function runDetached(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<RunResult> {
  const dir = join(env.HOME!, '..');
  const tag = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const outPath = join(dir, `out-${tag}`);
  const errPath = join(dir, `err-${tag}`);
  const outFd = openSync(outPath, 'w');
  const errFd = openSync(errPath, 'w');
  try {
    const child = spawn(cmd, args, { env, stdio: ['ignore', outFd, errFd], detached: true });
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`${cmd} ${args.join(' ')} timed out after ${timeoutMs} ms: ${readFileSync(errPath, 'utf8')}`));
      }, timeoutMs);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    return { code, stdout: readFileSync(outPath, 'utf8'), stderr: readFileSync(errPath, 'utf8') };
  } finally {
    closeSync(outFd);
    closeSync(errFd);
  }
}

/** Starts everything (with extra gateway settings, if given); the caller stops it. */
export async function startCliWorld(gatewayEnv: NodeJS.ProcessEnv = {}): Promise<CliWorld> {
  const gw = await startTestGateway({ AIRLOCK_GATEWAY_ALLOW_LOOPBACK_TARGETS: '1', AIRLOCK_GATEWAY_PENALTIES: 'off', ...gatewayEnv });
  const core = gw.server.core;
  const enrolment = await enrolUser(core.store, { name: 'alice', email: null, isAdmin: false, password: PASSWORD }, core.clock, { kdfCost: LOW_COST_FOR_TESTS });
  await gw.project('genomics', ['alice']);

  // The target: sshd configured from `airlock admin sshd-config`, with a host certificate for "vm1".
  const nodeDir = join(gw.dir, 'node');
  mkdirSync(nodeDir, { recursive: true });
  const adminEnv = { AIRLOCK_HTTP_LISTEN: '127.0.0.1:0' };
  const cfg = await airlock(['admin', '--data-dir', gw.dataDir, 'sshd-config', '--output-dir', nodeDir, '--account', 'root=alice'], { env: adminEnv });
  if (cfg.code !== 0) throw new Error(`sshd-config: ${cfg.stderr}`);
  const hostKey = join(nodeDir, 'ssh_host_ed25519_key');
  const keygen = await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  if (keygen.code !== 0) throw new Error(`ssh-keygen: ${keygen.stderr}`);
  const hostCert = await airlock(['admin', '--data-dir', gw.dataDir, 'host-cert', '--principals', 'vm1', `${hostKey}.pub`], { env: adminEnv });
  if (hostCert.code !== 0) throw new Error(`host-cert: ${hostCert.stderr}`);
  writeFileSync(`${hostKey}-cert.pub`, hostCert.stdout);
  const node = await startSshd(nodeDir, [...cfg.stdout.trim().split('\n'), `HostCertificate ${hostKey}-cert.pub`, 'AllowTcpForwarding yes']);

  const web = await startHttpService('127.0.0.1', 'hello from jupyter');
  const idlePort = await freePort();
  await gw.target({
    name: 'vm1', project: 'genomics', host: '127.0.0.1', port: node.port, loginUser: 'root',
    services: [{ name: 'jupyter', port: web.port, path: '/lab', token: SERVICE_TOKEN }, { name: 'idle', port: idlePort, path: null, token: null }],
  });

  // Short paths: ControlPath sockets must fit in 108 bytes.
  const home = join(gw.dir, 'h');
  mkdirSync(home, { mode: 0o700 });
  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), SSH_AUTH_SOCK: '', SSH_ASKPASS: '', DISPLAY: '', ...extra });
  const cli = (args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}) =>
    airlock(args, { ...(opts.input === undefined ? {} : { input: opts.input }), env: env(opts.env), timeoutMs: opts.timeoutMs ?? 60_000 });
  let lastStep = -1;
  const recovery = [...enrolment.recoveryCodes];
  const login = (extra: string[] = []) => {
    const step = Math.floor(Date.now() / 30_000);
    // A TOTP code is accepted once: a second login in the same 30 s uses a recovery code.
    const otp = step === lastStep ? recovery.shift()! : currentTotp(enrolment.totpSecret, Date.now());
    lastStep = step;
    return cli(['login', '--server', gw.server.httpUrl, '--user', 'alice', '--password-stdin', '--otp', otp, ...extra], { input: PASSWORD + '\n' });
  };
  return {
    gw, node, web, idlePort, home, totpSecret: enrolment.totpSecret, recoveryCodes: recovery, env, cli, login,
    sshConfig: join(home, '.ssh', 'config'),
    async stop() {
      // Masters started by the tests' ssh commands, if any are left.
      for (const host of ['vm1', 'airlock-gateway']) await runDetached('ssh', ['-F', join(home, '.ssh', 'config'), '-O', 'exit', host], env(), 10_000).catch(() => undefined);
      await web.stop();
      await node.stop();
      await gw.stop();
    },
  };
}

/** startCliWorld, then `airlock login` as alice: the world of the tests that start signed in. */
export async function startSignedInCliWorld(gatewayEnv: NodeJS.ProcessEnv = {}): Promise<CliWorld> {
  const w = await startCliWorld(gatewayEnv);
  const login = await w.login();
  if (login.code !== 0) {
    await w.stop();
    throw new Error(`airlock login exited with ${login.code}: ${login.stderr}`);
  }
  return w;
}
