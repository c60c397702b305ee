/**
 * The SSH gateway (jump host) on ssh2: accepts TCP connections (after the PROXY header of a trusted load
 * balancer, proxy-socket.ts) under the pre-authentication limits (preauth-limits.ts, admission.ts),
 * hands them to ssh2 with pinned algorithms, authenticates with certificates (and registered keys when
 * enabled), and then allows exactly two things: direct-tcpip channels that the forwarding policy allows
 * (`ssh -J`, `-W`, `-L`), and session channels that show the lobby. Everything else — remote forwarding,
 * agent forwarding, X11, streamlocal, subsystems, unknown channel types — is refused and audited.
 * Authorisation is checked again at every channel open, and what is already open is ended when access
 * is taken away or runs out (live-watcher.ts): a revoked certificate, a disabled user, a removed or
 * expired target, the maximum session age. Connections are rekeyed by volume and by time (ssh2 never rekeys by itself).
 *
 * This file only wires the parts, each of which owns one concern: the door (gateway-door.ts), the
 * authentication flow (gateway-auth-flow.ts), rekeying (gateway-rekey.ts), forward channels
 * (forward-channel.ts) and lobby sessions (lobby-session.ts).
 */
import { createServer, type AddressInfo, type Server as NetServer } from 'node:net';
import ssh2 from 'ssh2';
import type { AuthContext, Connection } from 'ssh2';
import { createLogger } from '../log.ts';
import { GATEWAY_ALGORITHMS, GATEWAY_IDENT } from './algorithms.ts';
import { relayConnection } from './channel-relay.ts';
import { ForwardChannels } from './forward-channel.ts';
import { GatewayAuthFlow } from './gateway-auth-flow.ts';
import { gatewayContext, noop, type Conn, type GatewayContext, type GatewayDeps, type SshConnectionInfo } from './gateway-conn.ts';
import { GatewayDoor } from './gateway-door.ts';
import { rekeyIfDue, setRekeyBudget, startRekeyTimer, watchRekeys } from './gateway-rekey.ts';
import { gatewayTrust, type GatewayTrust } from './host-key.ts';
import { JobConnections } from './job-connections.ts';
import { JobListeners } from './job-listeners.ts';
import { LiveWatcher } from './live-watcher.ts';
import { LivePublisher } from './live-publisher.ts';
import type { Drainable } from '../ops/drain.ts';
import { LobbySessions } from './lobby-session.ts';
import { disconnectWithMessage } from './ssh2-disconnect.ts';
import { extendServerConfig, installSsh2Extensions, SERVER_SIG_ALGS } from './ssh2-extensions.ts';
import { hookConnection, OPEN_FAILURE } from './ssh2-internals.ts';

export type { GatewayDeps } from './gateway-conn.ts';

const { Server: SshServer } = ssh2;

/** ssh2 pings authenticated clients this often and drops them after this many missed answers. */
const KEEPALIVE_INTERVAL_MS = 60_000;
const KEEPALIVE_COUNT_MAX = 3;
/** At shutdown, the longest wait for the forward channels' last records. */
const CLOSE_CHANNELS_MS = 2_000;

export interface GatewayStats {
  /** Open TCP connections (authenticated or not). */
  connections: number;
  authenticated: number;
  unauthenticated: number;
  /** Connections refused by the pre-authentication limits since start. */
  refused: number;
  /** Successful logins since start. */
  logins: number;
  /** Completed re-keyings since start (initial key exchanges not counted). */
  rekeys: number;
  /** Open forwarding channels. */
  channels: number;
  /** Whether ssh2's internals could be hooked on the last connection (see ssh2-internals.ts). */
  hooksAvailable: boolean | null;
}

export interface Gateway extends Drainable {
  /** The address actually listened on. */
  readonly address: { host: string; port: number };
  /** The address users connect to. */
  readonly publicAddress: { host: string; port: number };
  trust(): GatewayTrust;
  stats(): GatewayStats;
  /** Whether the SSH listener accepts connections (readiness). */
  readonly listening: boolean;
  /** The job ports this replica listens on, by job id (empty without jobs). */
  jobPorts(): Map<string, number>;
  close(): Promise<void>;
}

/** Starts the gateway on `deps.listen` (port 0 picks one). */
export async function startGateway(deps: GatewayDeps): Promise<Gateway> {
  const gw = new GatewayServer(deps);
  await gw.listen();
  return gw;
}

class GatewayServer implements Gateway {
  readonly #d: GatewayDeps;
  readonly #ctx: GatewayContext;
  readonly #door: GatewayDoor;
  readonly #authFlow: GatewayAuthFlow;
  readonly #forward: ForwardChannels;
  readonly #lobby: LobbySessions;
  readonly #ssh: InstanceType<typeof SshServer>;
  readonly #net: NetServer;
  /** Ends live connections and channels whose access was taken away (live-watcher.ts). */
  readonly #watcher: LiveWatcher;
  /** Records live connections in the database for the operators' page, and ends those they ask to. */
  readonly #publisher: LivePublisher;
  /** Settles once the listeners are closed and the last connection has ended. */
  #netClosed: Promise<void> | undefined;
  /** Per-job endpoints, when configured. */
  readonly #jobs: { listeners: JobListeners; connections: JobConnections } | null = null;
  #address: { host: string; port: number } | null = null;

  constructor(deps: GatewayDeps) {
    this.#d = deps;
    this.#ctx = gatewayContext(deps, deps.logger ?? createLogger());
    const ctx = this.#ctx;
    // ML-KEM key exchange, the host certificate and server-sig-algs need the patched ssh2.
    installSsh2Extensions();
    this.#ssh = new SshServer(extendServerConfig({
      hostKeys: [deps.hostKey.privateKeyText],
      algorithms: GATEWAY_ALGORITHMS,
      ident: GATEWAY_IDENT,
      keepaliveInterval: KEEPALIVE_INTERVAL_MS,
      keepaliveCountMax: KEEPALIVE_COUNT_MAX,
    }, { hostKeyProviders: deps.hostCertificate ? [deps.hostCertificate.ssh2HostKey] : [], serverSigAlgs: SERVER_SIG_ALGS }));
    this.#door = new GatewayDoor(ctx, (socket) => this.#ssh.injectSocket(socket));
    this.#authFlow = new GatewayAuthFlow(ctx, (conn, kind) => this.#door.penalise(conn, kind));
    const auth = this.#authFlow.auth;
    this.#watcher = new LiveWatcher({
      settings: deps.store.settings, clock: deps.clock, intervalMs: deps.config.liveCheckMs,
      recheck: (id) => auth.recheck(id),
      targetsForUser: (userId, now) => (deps.inventory === undefined ? Promise.resolve([]) : deps.inventory.targetsForUser(userId, now)),
      forwardContext: () => ({ ownListeners: this.#forward.ownListeners(), localAddresses: this.#forward.localAddressList(), allowLoopback: ctx.cfg.allowLoopbackTargets }),
      audit: (e) => ctx.audit(e),
      log: (level, msg, fields) => ctx.log(level, msg, fields),
    });
    this.#publisher = new LivePublisher({
      repository: deps.store.liveConnections, registry: this.#watcher.registry, clock: deps.clock, intervalMs: deps.config.liveCheckMs,
      bytes: (c) => c.bytes?.() ?? { in: 0, out: 0 },
      end: (c, by) => this.#watcher.endByOperator(c, by),
      log: (level, msg, fields) => ctx.log(level, msg, fields),
    });
    this.#forward = new ForwardChannels(ctx, { auth, sessions: this.#authFlow.sessions, registry: this.#watcher.registry, ownAddress: () => this.address });
    this.#lobby = new LobbySessions(ctx, { auth, sessions: this.#authFlow.sessions, browser: this.#authFlow.browser, forward: this.#forward, publicAddress: () => this.publicAddress });
    this.#ssh.on('connection', (client: Connection, info: SshConnectionInfo) => this.#onSshConnection(client, info));
    this.#ssh.on('error', (err: Error) => ctx.log('warn', 'ssh server error', { error: err.message }));
    // Our own TCP server, so that limits apply before ssh2 allocates anything for the connection.
    this.#net = createServer({ noDelay: true }, (socket) => this.#door.accept(socket));
    this.#net.on('error', (err) => ctx.log('warn', 'listener error', { error: err.message }));
    if (deps.jobs !== undefined) {
      const listeners: JobListeners = new JobListeners({
        ctx, door: this.#door, jobs: deps.store.jobs, host: deps.listen.host, intervalMs: deps.jobs.reconcileMs ?? 500,
        endConnection: (conn, message) => connections.end(conn, message),
        jobEnded: (job) => connections.jobEnded(job),
      });
      const connections: JobConnections = new JobConnections({
        ctx, jobs: deps.store.jobs, certificates: deps.store.certificates, ca: deps.jobs.ca, jobOf: (conn) => listeners.jobOf(conn), sourceAddress: deps.jobs.sourceAddress,
        forwarding: deps.jobs.forwarding,
      });
      this.#jobs = { listeners, connections };
    }
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#net.once('error', reject);
      this.#net.listen({ host: this.#d.listen.host, port: this.#d.listen.port }, () => {
        this.#net.off('error', reject);
        const a = this.#net.address() as AddressInfo;
        this.#address = { host: this.#d.listen.host, port: a.port };
        this.#watcher.start();
        this.#publisher.start();
        if (this.#ctx.cfg.allowLoopbackTargets) {
          this.#ctx.log('warn', 'AIRLOCK_GATEWAY_ALLOW_LOOPBACK_TARGETS is on: targets may be loopback addresses. For tests and single-host demos only, never in production.', {});
        }
        if (this.#jobs === null) resolve();
        else this.#jobs.listeners.start().then(resolve, reject);
      });
    });
  }

  get address(): { host: string; port: number } {
    if (this.#address === null) throw new Error('gateway not listening');
    return this.#address;
  }

  get publicAddress(): { host: string; port: number } {
    const p = this.#d.publicAddress;
    return { host: p?.host ?? this.address.host, port: p?.port ?? this.address.port };
  }

  trust(): GatewayTrust {
    return gatewayTrust(this.#d.hostKey.publicKey, this.publicAddress);
  }

  get listening(): boolean {
    return this.#net.listening;
  }

  stats(): GatewayStats {
    const open = this.#door.open;
    let authenticated = 0;
    for (const c of open) if (c.identity !== null) authenticated++;
    const counters = this.#ctx.counters;
    return {
      connections: open.size,
      authenticated,
      unauthenticated: open.size - authenticated,
      refused: this.#door.refused,
      logins: counters.logins,
      rekeys: counters.rekeys,
      channels: counters.channels,
      hooksAvailable: counters.hooksAvailable,
    };
  }

  jobPorts(): Map<string, number> {
    return this.#jobs?.listeners.ports() ?? new Map<string, number>();
  }

  async close(): Promise<void> {
    this.#watcher.stop();
    await this.#publisher.stop();
    await this.stopAccepting();
    for (const live of this.#watcher.registry.connections()) for (const ch of live.channels) ch.close();
    this.#door.close();
    await this.#netClosed;
    // Each channel's record is written once both its halves have closed: wait for them (bounded).
    const ctx = this.#ctx;
    if (ctx.counters.channels > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => ctx.waiters.channels.push(resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_CHANNELS_MS))),
      ]);
      clearTimeout(timer);
    }
    await Promise.all(ctx.auditsInFlight);
  }

  async stopAccepting(): Promise<void> {
    // net.Server#close stops accepting at once; its callback waits for every open connection.
    this.#netClosed ??= new Promise<void>((resolve) => this.#net.close(() => resolve()));
    await this.#jobs?.listeners.stop();
  }

  get openConnections(): number {
    return this.#door.open.size;
  }

  whenIdle(): Promise<void> {
    if (this.#door.open.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#ctx.waiters.idle.push(resolve));
  }

  endAll(message: string): void {
    // Authenticated clients read why (SSH_MSG_DISCONNECT; the socket is destroyed if they linger).
    for (const live of this.#watcher.registry.connections()) {
      live.ended = true;
      live.end(message);
      for (const ch of live.channels) ch.close();
    }
    // Anything else (still logging in, or between login and registration) is cut off.
    for (const c of this.#door.open) if (c.live === undefined) c.socket.destroy();
  }

  #onSshConnection(client: Connection, info: SshConnectionInfo): void {
    const conn = this.#door.claim(info);
    client.on('error', noop);
    if (conn === undefined) {
      client.end();
      return;
    }
    const ctx = this.#ctx;
    conn.client = client;
    conn.software = String(info.header?.versions?.software ?? '').slice(0, 64);
    conn.hooks = hookConnection(client, (type) => {
      if (conn.identity !== null) ctx.refused(conn, 'channel', { channel_type: type.slice(0, 64) });
    });
    ctx.counters.hooksAvailable = conn.hooks.hooksAvailable;
    const jobs = conn.jobId === undefined ? null : this.#jobs;
    if (jobs !== null) {
      // A job's port: the same authentication, then ownership; the job proxy handles every channel.
      client.on('authentication', (authCtx: AuthContext) => void this.#authFlow.onAuth(conn, authCtx, jobs.connections.authorize));
      client.on('ready', () => {
        this.#onReady(conn);
        void jobs.connections.ready(conn);
      });
      watchRekeys(ctx, conn);
      return;
    }
    client.on('authentication', (authCtx: AuthContext) => void this.#authFlow.onAuth(conn, authCtx));
    client.on('ready', () => this.#onReady(conn));
    watchRekeys(ctx, conn);
    client.on('tcpip', (accept, reject, req) => void this.#forward.open(conn, accept, reject, req));
    client.on('session', (accept, reject) => void this.#lobby.open(conn, accept, reject));
    client.on('openssh.streamlocal', (_accept, reject, req) => {
      conn.hooks?.rejectWith(reject, OPEN_FAILURE.prohibited, 'Unix socket forwarding is not allowed through this gateway.');
      ctx.refused(conn, 'direct-streamlocal', { socket_path: String(req.socketPath).slice(0, 200) });
    });
    // Remote forwarding (ssh -R) would make the gateway listen for the client: never.
    const onRequest = (_accept: unknown, reject: (() => void) | undefined, name: string, req: Record<string, unknown>) => {
      reject?.();
      if (name === 'tcpip-forward' || name === 'streamlocal-forward@openssh.com') {
        ctx.refused(conn, name, name === 'tcpip-forward' ? { bind_address: String(req.bindAddr).slice(0, 200), bind_port: req.bindPort } : { socket_path: String(req.socketPath).slice(0, 200) });
      }
    };
    client.on('request', onRequest as (...args: unknown[]) => void);
  }

  #onReady(conn: Conn): void {
    if (conn.graceTimer) {
      clearTimeout(conn.graceTimer);
      conn.graceTimer = null;
    }
    this.#door.releaseSlot(conn);
    const socket = conn.socket;
    setRekeyBudget(this.#ctx, conn);
    const jobs = conn.jobId === undefined ? null : this.#jobs;
    // Rekey by volume: checked when data arrives from the client, and from each target (what we are
    // about to send), so both directions are covered without a timer or any per-packet allocation.
    if (conn.client !== null) conn.relays = relayConnection(conn.client, socket, () => rekeyIfDue(conn));
    if (conn.identity !== null) {
      conn.live = this.#watcher.registry.add({
        socket, identity: conn.identity, clientAddress: conn.address, openedAt: this.#d.clock.now(),
        sessions: () => conn.sessions, end: (message) => disconnectWithMessage(conn.client, socket, message),
        bytes: () => ({ in: socket.bytesRead, out: socket.bytesWritten }),
        // A job port's access also rests on owning the job (job-connections.ts).
        ...(jobs !== null ? { access: () => jobs.connections.recheck(conn) } : {}),
      });
    }
    startRekeyTimer(this.#ctx, conn);
  }
}
