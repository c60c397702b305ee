/**
 * Gateway test fixtures: the real service (`startServer`, the composition root, in this process — so
 * tests can read the gateway's counters), users with keys and certificates from the real CA, projects
 * and targets through the real inventory, a real sshd target trusting the CA, and ssh config files with
 * `Host` blocks (ProxyJump does not pass `-o` options to the jump hop).
 */
import { generateKeyPairSync } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.ts';
import { startServer, type RunningServer } from '../../src/server.ts';
import { enrolUser } from '../../src/identity/local-login.ts';
import { publicKeyFromKeyObject, formatPublicKey, parsePublicKey } from '../../src/ssh/keys.ts';
import { LOW_COST_FOR_TESTS } from '../../src/identity/password.ts';
import { formatOpenSshPrivateKey } from '../../src/ssh/private-key.ts';
import type { Target, TargetService } from '../../src/inventory/ports.ts';
import type { AuditEvent } from '../../src/store/repositories.ts';
import { airlock } from './airlock.ts';
import { run, type RunResult } from './processes.ts';
import { startSshd, type TestSshd } from './sshd.ts';

/** A user's key pair on disk, and the certificate when one was issued. */
export interface UserKey {
  name: string;
  key: string;
  pub: string;
  cert: string;
  serial: bigint;
}

export interface TestGateway {
  server: RunningServer;
  dir: string;
  dataDir: string;
  host: string;
  port: number;
  /** known_hosts file holding the gateway's line (from its own trust material). */
  knownHosts: string;
  logLines: string[];
  /** Creates a user with a key and a certificate from the CA. */
  user(name: string, opts?: { sourceCidrs?: string[] }): Promise<UserKey>;
  /** Issues another certificate for an existing user's key (e.g. after revocation). */
  certify(u: UserKey): Promise<UserKey>;
  project(name: string, members: string[]): Promise<void>;
  target(t: { name: string; project: string; host: string; port: number; loginUser?: string | null; services?: TargetService[]; allowedCidrs?: string[]; expiresAt?: number | null }): Promise<Target>;
  /** Audit events of a type (newest last). */
  audit(type?: string): Promise<AuditEvent[]>;
  stop(): Promise<void>;
}

const ADMIN = { name: 'test', clientAddress: null };

/**
 * Starts the service in this process on loopback port 0 with a fresh data directory and env overrides;
 * `shareCaWith` makes it a replica of another (the same CA keys; give both the same AIRLOCK_DATABASE_URL).
 */
export async function startTestGateway(env: NodeJS.ProcessEnv = {}, opts: { shareCaWith?: TestGateway } = {}): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-gw-'));
  const dataDir = join(dir, 'data');
  if (opts.shareCaWith) cpSync(join(opts.shareCaWith.dataDir, 'ca'), join(dataDir, 'ca'), { recursive: true });
  const config = loadConfig({ env: { AIRLOCK_HTTP_LISTEN: '127.0.0.1:0', AIRLOCK_SSH_LISTEN: '127.0.0.1:0', ...env }, flags: { data_dir: dataDir } });
  const logLines: string[] = [];
  const server = await startServer(config, { log: (line) => logLines.push(line) });
  const core = server.core;
  const { host, port } = server.gateway.address;
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, server.gateway.trust().knownHostsLine + '\n');
  const keysDir = join(dir, 'keys');
  mkdirSync(keysDir, { mode: 0o700 });

  const certify = async (u: UserKey): Promise<UserKey> => {
    const user = (await core.store.users.byName(u.name))!;
    const issued = await core.ca.issueUserCertificate({ user, publicKey: parsePublicKey(readFileSync(u.pub, 'utf8').trim()), method: 'admin', clientAddress: null });
    writeFileSync(u.cert, issued.line + '\n', { mode: 0o600 });
    return { ...u, serial: issued.serial };
  };

  return {
    server, dir, dataDir, host, port, knownHosts, logLines,
    async user(name, opts = {}) {
      await enrolUser(core.store, { name, email: null, isAdmin: false, password: 'correct horse battery staple' }, core.clock, { kdfCost: LOW_COST_FOR_TESTS });
      if (opts.sourceCidrs) {
        const u = (await core.store.users.byName(name))!;
        await core.store.users.update(u.id, { sourceCidrs: opts.sourceCidrs });
      }
      const { privateKey } = generateKeyPairSync('ed25519');
      const key = join(keysDir, name);
      writeFileSync(key, formatOpenSshPrivateKey(privateKey, name), { mode: 0o600 });
      writeFileSync(`${key}.pub`, formatPublicKey(publicKeyFromKeyObject(privateKey), name) + '\n');
      return certify({ name, key, pub: `${key}.pub`, cert: `${key}-cert.pub`, serial: 0n });
    },
    certify,
    async project(name, members) {
      await core.inventory.addProject(name, ADMIN);
      for (const m of members) await core.inventory.addMember(name, m, 'member', ADMIN);
    },
    async target(t) {
      return core.inventory.addTarget({
        name: t.name, projectName: t.project, host: t.host, port: t.port, loginUser: t.loginUser ?? null,
        services: t.services ?? [], allowedCidrs: t.allowedCidrs ?? [], expiresAt: t.expiresAt ?? null,
      }, ADMIN);
    },
    async audit(type) {
      return core.store.audit.list({ since: 0, ...(type ? { type } : {}) });
    },
    async stop() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A real sshd trusting the gateway's CA, logging in as root for the given principals (`root=alice,bob`). */
export async function startTargetSshd(gw: TestGateway, principals: string[], name = 'node'): Promise<TestSshd & { knownHostsLine127: string }> {
  const nodeDir = join(gw.dir, name);
  const cfg = await airlock(['admin', '--data-dir', gw.dataDir, 'sshd-config', '--output-dir', nodeDir, '--account', `root=${principals.join(',')}`], { env: { AIRLOCK_HTTP_LISTEN: '127.0.0.1:0' } });
  if (cfg.code !== 0) throw new Error(`sshd-config failed: ${cfg.stderr}`);
  const sshd = await startSshd(nodeDir, [...cfg.stdout.trim().split('\n'), 'AllowAgentForwarding yes', 'AllowTcpForwarding yes']);
  return { ...sshd, knownHostsLine127: sshd.knownHostsLine };
}

export interface SshHostBlock {
  alias: string;
  hostName: string;
  port: number;
  user: string;
  key?: UserKey;
  proxyJump?: string;
  extra?: string[];
}

/** Writes an ssh config with one Host block per entry (absolute paths; no user config involved). */
export function writeSshConfig(path: string, knownHosts: string, blocks: SshHostBlock[], global: string[] = []): string {
  const lines: string[] = [];
  for (const b of blocks) {
    lines.push(`Host ${b.alias}`, `  HostName ${b.hostName}`, `  Port ${b.port}`, `  User ${b.user}`);
    if (b.key) lines.push(`  IdentityFile ${b.key.key}`, `  CertificateFile ${b.key.cert}`, '  IdentitiesOnly yes');
    if (b.proxyJump) lines.push(`  ProxyJump ${b.proxyJump}`);
    for (const e of b.extra ?? []) lines.push(`  ${e}`);
    lines.push('');
  }
  lines.push('Host *', `  UserKnownHostsFile ${knownHosts}`, '  GlobalKnownHostsFile /dev/null', '  StrictHostKeyChecking yes', '  BatchMode yes',
    '  ConnectTimeout 10', '  LogLevel ERROR', ...global.map((g) => `  ${g}`), '');
  writeFileSync(path, lines.join('\n'));
  return path;
}

/** Runs `ssh -F CONFIG ARGS` with no agent (unless given) and a bounded time. */
export function sshF(config: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  return run('ssh', ['-F', config, ...args], { env: { ...process.env, SSH_AUTH_SOCK: '', ...opts.env }, timeoutMs: opts.timeoutMs ?? 30_000, input: opts.input });
}

/** A tiny HTTP service (the "Jupyter") on a loopback address. */
export async function startHttpService(host = '127.0.0.1', body = 'hello from the service'): Promise<{ server: HttpServer; port: number; stop(): Promise<void> }> {
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(`${body} ${req.url ?? ''}`);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** Writes an unencrypted OpenSSH key pair (`path`, `path.pub`) made with node:crypto. */
export function writeKeyPair(path: string, type: 'ed25519' | 'ecdsa' | 'rsa' = 'ed25519'): string {
  const { privateKey } = type === 'ed25519' ? generateKeyPairSync('ed25519') : type === 'ecdsa' ? generateKeyPairSync('ec', { namedCurve: 'P-384' }) : generateKeyPairSync('rsa', { modulusLength: 3072 });
  writeFileSync(path, formatOpenSshPrivateKey(privateKey, 'test'), { mode: 0o600 });
  writeFileSync(`${path}.pub`, formatPublicKey(publicKeyFromKeyObject(privateKey), 'test') + '\n');
  return path;
}

/** A temporary directory removed by the caller. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
