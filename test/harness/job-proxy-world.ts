/**
 * The per-job proxy's world, for its tests: Airlock's real CA and store (the service
 * in this process), a real sshd as the job (trusting the user CA through `airlock admin sshd-config`,
 * presenting a host certificate from the host CA), and a small ssh2 Server standing in for the job
 * port: it authenticates the researcher "alice" by her registered key (the real `ssh` and `plink` log
 * in to it) and hands each connection to `proxyJobConnection`. `setJob` changes the job description
 * that new connections get (e.g. a wrong pinned host key).
 */
import { generateKeyPairSync, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type { Connection } from 'ssh2';
import { proxyJobConnection, type JobProxyDeps, type JobProxyJob, type JobProxySession } from '../../src/gateway/job-proxy.ts';
import { GATEWAY_ALGORITHMS } from '../../src/gateway/algorithms.ts';
import { relayConnection } from '../../src/gateway/channel-relay.ts';
import { formatPublicKey, parsePublicKey, publicKeyFromKeyObject } from '../../src/ssh/keys.ts';
import { formatOpenSshPrivateKey } from '../../src/ssh/private-key.ts';
import { airlock } from './airlock.ts';
import { startTestGateway, type TestGateway } from './gateway.ts';
import { run } from './processes.ts';
import { startSshd, type TestSshd } from './sshd.ts';

export interface JobProxyWorld {
  gw: TestGateway;
  dir: string;
  alice: { id: string; name: string };
  /** alice's private key for the front server (no certificate beside it). */
  key: string;
  /** The same key as a PuTTY .ppk (for plink). */
  ppk: string;
  job: TestSshd;
  /** The job's host key line and its host certificate line. */
  jobHostKey: string;
  jobHostCert: string;
  front: { port: number; knownHosts: string; hostKeyFingerprint: string };
  /** Proxied sessions, oldest first. */
  sessions: JobProxySession[];
  /** The description the next connections get (the default: host-certificate trust). */
  description(overrides?: Partial<JobProxyJob>): JobProxyJob;
  setJob(job: JobProxyJob): void;
  /** Researcher connections the front server has open. */
  openConnections(): number;
  /** Holds every session certificate until the returned function is called (to test what happens meanwhile). */
  holdCertificates(): () => void;
  /** ssh arguments up to and including the destination, for the front server. */
  sshArgs(extra?: string[]): string[];
  stop(): Promise<void>;
}

/** Starts everything; the caller stops it. */
export async function startJobProxyWorld(opts: { sshdExtra?: string[]; researcherRelays?: boolean } = {}): Promise<JobProxyWorld> {
  const relays = opts.researcherRelays !== false;
  const gw = await startTestGateway({ AIRLOCK_GATEWAY_PENALTIES: 'off' });
  const core = gw.server.core;
  const dir = join(gw.dir, 'jp');
  mkdirSync(dir, { recursive: true });
  await gw.user('alice');
  const aliceUser = (await core.store.users.byName('alice'))!;
  const alice = { id: aliceUser.id, name: aliceUser.name };

  // alice's own key for the job port, and its PPK for plink.
  const key = join(dir, 'alice_ed25519');
  const kg = await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  if (kg.code !== 0) throw new Error(`ssh-keygen: ${kg.stderr}`);
  const ppk = join(dir, 'alice.ppk');
  await run('puttygen', [key, '-O', 'private', '-o', ppk]).catch(() => undefined);

  // The job: sshd trusting the user CA (sshd-config's lines), with a host certificate for "job1".
  const nodeDir = join(dir, 'job');
  mkdirSync(nodeDir, { recursive: true });
  const cfg = await airlock(['admin', '--data-dir', gw.dataDir, 'sshd-config', '--output-dir', nodeDir], { env: { AIRLOCK_HTTP_LISTEN: '127.0.0.1:0' } });
  if (cfg.code !== 0) throw new Error(`sshd-config: ${cfg.stderr}`);
  const sshdConfig = cfg.stdout.trim().split('\n');
  const hostKey = join(nodeDir, 'ssh_host_ed25519_key');
  const hk = await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  if (hk.code !== 0) throw new Error(`ssh-keygen: ${hk.stderr}`);
  const jobHostKey = readFileSync(`${hostKey}.pub`, 'utf8').trim();
  const hostCert = await core.ca.issueHostCertificate({ publicKey: parsePublicKey(jobHostKey), principals: ['job1', '127.0.0.1'], ttlMs: 24 * 3600_000, actor: 'test' });
  writeFileSync(`${hostKey}-cert.pub`, hostCert.line + '\n');
  const job = await startSshd(nodeDir, [
    ...sshdConfig, `HostCertificate ${hostKey}-cert.pub`, 'AllowTcpForwarding yes', 'AcceptEnv AIRLOCK_TEST_*',
    // sshd takes the first value of a keyword: `sshdExtra` may turn X11 on.
    'Subsystem sftp internal-sftp', ...(opts.sshdExtra ?? []), 'X11Forwarding no',
  ]);

  const description = (overrides: Partial<JobProxyJob> = {}): JobProxyJob => ({
    id: 'job-1', name: 'job1', address: '127.0.0.1', port: job.port, loginUser: 'root',
    hostTrust: { kind: 'host-certificate', certificate: hostCert.line }, expiresAt: Date.now() + 3600_000,
    ...overrides,
  });
  let current = description();
  let hold: Promise<void> | undefined;
  const ca: JobProxyDeps['ca'] = {
    get hostCaKey() {
      return core.ca.hostCaKey;
    },
    async issueSessionCertificate(req) {
      if (hold !== undefined) await hold;
      return core.ca.issueSessionCertificate(req);
    },
  };
  const sessions: JobProxySession[] = [];

  // The front server: the job port's stand-in. alice logs in with her key; the proxy takes over.
  const hostPrivate = generateKeyPairSync('ed25519').privateKey;
  const hostPublic = publicKeyFromKeyObject(hostPrivate);
  const aliceParsed = ssh2.utils.parseKey(readFileSync(`${key}.pub`, 'utf8'));
  if (aliceParsed instanceof Error) throw aliceParsed;
  const connections = new Set<Connection>();
  const server = new ssh2.Server({
    hostKeys: [formatOpenSshPrivateKey(hostPrivate, '')],
    algorithms: { ...GATEWAY_ALGORITHMS, kex: ['curve25519-sha256', 'curve25519-sha256@libssh.org'] },
  }, (conn, info) => {
    connections.add(conn);
    // As the gateway's listener does (not in ssh2's typings for Connection).
    (conn as unknown as { setNoDelay(on: boolean): void }).setNoDelay(true);
    conn.on('close', () => connections.delete(conn));
    conn.on('error', () => undefined);
    conn.on('authentication', (ctx) => {
      if (ctx.method !== 'publickey' || ctx.username !== 'alice') return ctx.reject(['publickey']);
      const offered = ctx.key.data;
      const mine = aliceParsed.getPublicSSH();
      if (ctx.key.algo !== aliceParsed.type || offered.length !== mine.length || !timingSafeEqual(offered, mine)) return ctx.reject(['publickey']);
      if (ctx.signature === undefined) return ctx.accept(); // the key query; the signed request follows
      if (ctx.blob === undefined || aliceParsed.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true) return ctx.reject(['publickey']);
      ctx.accept();
    });
    conn.on('ready', () => {
      // As the gateway does once a connection is authenticated: its data path (channel-relay.ts).
      const socket = (conn as unknown as { _sock: Socket })._sock;
      const researcherRelays = relays ? relayConnection(conn, socket, () => undefined) : undefined;
      sessions.push(proxyJobConnection(conn, { user: alice, clientAddress: info.ip }, current, {
        ca, audit: core.audit, clock: core.clock, sourceAddress: '127.0.0.1', ...(researcherRelays ? { researcherRelays } : {}),
      }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${formatPublicKey(hostPublic, '')}\n`);
  const fp = await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', knownHosts]);
  const hostKeyFingerprint = fp.stdout.split(' ')[1] ?? '';

  return {
    gw, dir, alice, key, ppk, job, jobHostKey, jobHostCert: hostCert.line,
    front: { port, knownHosts, hostKeyFingerprint }, sessions, description,
    setJob(j) {
      current = j;
    },
    openConnections: () => connections.size,
    holdCertificates() {
      let release!: () => void;
      hold = new Promise<void>((r) => (release = r));
      return () => {
        hold = undefined;
        release();
      };
    },
    sshArgs: (extra = []) => [
      '-F', '/dev/null', '-p', String(port), '-i', key, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes',
      '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'LogLevel=ERROR', ...extra, 'alice@127.0.0.1',
    ],
    async stop() {
      for (const c of connections) c.end();
      await new Promise<void>((r) => server.close(() => r()));
      await job.stop();
      await gw.stop();
    },
  };
}
