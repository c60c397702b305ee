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
 */
import { createServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import ssh2 from 'ssh2';
import type { AuthContext, Connection, RejectConnection, ServerChannel, Session } from 'ssh2';
import type { Auditor, AuditInput } from '../audit/auditor.ts';
import type { Clock } from '../clock.ts';
import { createLogger, type Logger } from '../log.ts';
import type { GatewayConfig } from '../config.ts';
import type { InventoryPort, KeyRegistryPort, Target } from '../inventory/ports.ts';
import { canonicalClientAddress, type OwnListener } from '../policy/forward.ts';
import { parseCidr } from '../ssh/cidr.ts';
import type { PublicKey } from '../ssh/keys.ts';
import type { Store } from '../store/repositories.ts';
import { GATEWAY_ALGORITHMS, GATEWAY_IDENT } from './algorithms.ts';
import { auditAuth, GatewayAuthenticator, limitSessionAge, type GatewayIdentity } from './auth.ts';
import { firstFactorVerdict } from './auth-chains.ts';
import { LiveWatcher } from './live-watcher.ts';
import { LivePublisher } from './live-publisher.ts';
import type { LiveConnection } from './live-registry.ts';
import { DISCONNECT, disconnectWithMessage } from './ssh2-disconnect.ts';
import { dial, type DialResult, type Resolver } from './dialer.ts';
import { relayConnection, type ConnectionRelays } from './channel-relay.ts';
import { gatewayTrust, type GatewayTrust, type HostKey } from './host-key.ts';
import { explainDial, parseWhyCommand } from './why-command.ts';
import { lobbyClientOf, parseLobbyCommand, renderLobbyHelp, renderLobbyJson, renderLobbyText, type LobbyView } from './lobby.ts';
import { PreAuthLimiter, type PenaltyKind } from './preauth-limits.ts';
import { RefusalLog, SessionLimits } from './admission.ts';
import { readProxyHeader, watchForProxyHeader } from './proxy-socket.ts';
import { cidrListContains, type Cidr } from '../ssh/cidr.ts';
import { hookConnection, OPEN_FAILURE, sendAuthBanner, type ConnectionHooks } from './ssh2-internals.ts';
import { forwardingRefusal } from './certificate-restrictions.ts';
import { revokedBanner } from './revocation-banner.ts';
import { tellRefusal } from './refused-session.ts';
import { GatewayBrowserLogin, type BrowserAuthConnection, type CertificateIssuer, type KeyboardPrompter } from './browser-login.ts';
import type { BrowserLogins } from '../identity/browser-login.ts';
import { extendServerConfig, installSsh2Extensions, SERVER_SIG_ALGS, type Ssh2HostKeyProvider } from './ssh2-extensions.ts';
import type { Drainable } from '../ops/drain.ts';

const { Server: SshServer } = ssh2;

/** Concurrent channels per connection (checklist 10: bounded resources); OpenSSH's MaxSessions for sessions. */
const MAX_CHANNELS_PER_CONNECTION = 64;
const MAX_SESSIONS_PER_CONNECTION = 10;
/** ssh2 pings authenticated clients this often and drops them after this many missed answers. */
const KEEPALIVE_INTERVAL_MS = 60_000;
const KEEPALIVE_COUNT_MAX = 3;
/** A half-closed onward socket whose peer never closes is destroyed after this much idle time. */
const LINGER_MS = 30_000;
const LOCAL_ADDRESSES_TTL_MS = 10_000;
/** A trusted proxy writes its PROXY header at once; this is the most we wait for it (within the grace time). */
const PROXY_HEADER_TIMEOUT_MS = 5_000;
/** Refusals before authentication are audited once per source and this interval (admission.ts). */
const REFUSAL_AUDIT_INTERVAL_MS = 60_000;
const REFUSAL_AUDIT_MAX_SOURCES = 1_000;
/** At shutdown, the longest wait for the forward channels' last records. */
const CLOSE_CHANNELS_MS = 2_000;

export interface GatewayDeps {
  config: GatewayConfig;
  listen: { host: string; port: number };
  /** The address users are told to connect to; a missing port means the listener's. */
  publicAddress?: { host: string; port: number | undefined } | undefined;
  hostKey: HostKey;
  /** The host certificate (host-certificate.ts), offered next to the plain key. */
  hostCertificate?: { readonly ssh2HostKey: Ssh2HostKeyProvider } | undefined;
  userCaKey: PublicKey;
  store: Store;
  audit: Auditor;
  clock: Clock;
  inventory?: InventoryPort | undefined;
  keys?: KeyRegistryPort | undefined;
  /** The process's other listeners (HTTP), which forwarding must never reach. */
  otherListeners?: () => OwnListener[];
  resolve?: Resolver;
  /** Operational log (not audit). */
  logger?: Logger;
  /** Browser login (keyboard-interactive) and the `cert` command; absent = certificates and keys only. */
  browserLogin?: { logins: BrowserLogins; ca?: CertificateIssuer } | undefined;
  /** Load balancers (CIDRs, `AIRLOCK_TRUSTED_PROXIES`) that must, and alone may, send a PROXY protocol header. */
  trustedProxies?: readonly string[] | undefined;
}

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
  close(): Promise<void>;
}

/** One TCP connection's state; kept small, there may be tens of thousands. */
interface Conn {
  socket: Socket;
  /** Canonical client address: the socket's peer, or what a trusted proxy's PROXY header says. */
  address: string;
  /** The client's port (from the PROXY header when there is one). */
  port: number;
  /** When the connection was admitted: penalties grow with the time held unauthenticated (not while a real user signs in in the browser). */
  since: number;
  /** Releases the authenticated connection's place in the per-user and per-address limits. */
  sessionRelease: (() => void) | null;
  /** Pre-auth limiter source, until released. */
  source: string | null;
  client: Connection | null;
  hooks: ConnectionHooks | null;
  identity: GatewayIdentity | null;
  failures: number;
  penalised: boolean;
  graceTimer: NodeJS.Timeout | null;
  rekeyTimer: NodeJS.Timeout | null;
  rekeyAtBytes: number;
  rekeying: boolean;
  channels: number;
  sessions: number;
  /** Browser-login state of this connection, created at its first keyboard-interactive or partial success. */
  browser: BrowserAuthConnection | null;
  /** The client→target data path, from authentication on (channel-relay.ts). */
  relays: ConnectionRelays | null;
  /** The software part of the client's identification string (`OpenSSH_9.2p1`, `PuTTY_Release_0.78`), for the lobby. */
  software?: string;
}

const noop = (): void => {};

/** What ssh2 passes with a new connection: the peer, and its identification string once read. */
interface SshConnectionInfo {
  ip: string;
  port: number;
  header?: { versions?: { software?: string } };
}

/** Starts the gateway on `deps.listen` (port 0 picks one). */
export async function startGateway(deps: GatewayDeps): Promise<Gateway> {
  const gw = new GatewayServer(deps);
  await gw.listen();
  return gw;
}

class GatewayServer implements Gateway {
  readonly #d: GatewayDeps;
  readonly #logger: Logger;
  readonly #cfg: GatewayConfig;
  readonly #auth: GatewayAuthenticator;
  readonly #browser: GatewayBrowserLogin | null;
  readonly #limiter: PreAuthLimiter<Conn>;
  readonly #refusals: RefusalLog;
  readonly #refusalTimer: NodeJS.Timeout;
  readonly #sessions: SessionLimits;
  readonly #trustedProxies: Cidr[];
  /** Connections from trusted proxies whose PROXY header is still being read. */
  #readingHeaders = 0;
  readonly #ssh: InstanceType<typeof SshServer>;
  readonly #net: NetServer;
  /** Connections between TCP accept and ssh2's identification exchange, by `ip|port`. */
  readonly #pending = new Map<string, Conn>();
  readonly #open = new Set<Conn>();
  /** Ends live connections and channels whose access was taken away (live-watcher.ts). */
  readonly #watcher: LiveWatcher;
  readonly #live = new WeakMap<Conn, LiveConnection>();
  /** Records live connections in the database for the operators' page, and ends those they ask to. */
  readonly #publisher: LivePublisher;
  #address: { host: string; port: number } | null = null;
  #localAddresses: { at: number; list: string[] } | null = null;
  #stats = { logins: 0, rekeys: 0, channels: 0, hooksAvailable: null as boolean | null };
  /** Waiting for the last connection to close (drain). */
  #idleWaiters: (() => void)[] = [];
  /** Waiting for the last forward channel to finish (close). */
  #channelWaiters: (() => void)[] = [];
  /** Settles once the listener is closed and its last connection has ended. */
  #netClosed: Promise<void> | undefined;
  /** Audit records still being written: close() waits for them, so a shutdown loses none. */
  readonly #auditsInFlight = new Set<Promise<void>>();

  constructor(deps: GatewayDeps) {
    this.#d = deps;
    this.#logger = deps.logger ?? createLogger();
    this.#cfg = deps.config;
    this.#auth = new GatewayAuthenticator({ store: deps.store, clock: deps.clock, userCaKey: deps.userCaKey, keys: deps.keys, methods: deps.config.authMethods });
    this.#browser = deps.browserLogin === undefined ? null : new GatewayBrowserLogin({
      logins: deps.browserLogin.logins, ca: deps.browserLogin.ca, policy: deps.config.authChains, prompt: deps.config.browserPrompt,
      store: deps.store, clock: deps.clock, audit: deps.audit,
    });
    this.#limiter = new PreAuthLimiter({
      maxPerSource: deps.config.maxUnauthenticatedPerAddress,
      maxTotal: deps.config.maxUnauthenticated,
      penalties: deps.config.penalties,
      penaltyMaxMs: deps.config.penaltyMaxMs,
      exempt: deps.config.penaltyExempt.map((c) => parseCidr(c)),
      heldCapMs: deps.config.loginGraceMs,
    });
    this.#watcher = new LiveWatcher({
      settings: deps.store.settings, clock: deps.clock, intervalMs: deps.config.liveCheckMs,
      recheck: (id) => this.#auth.recheck(id),
      targetsForUser: (userId, now) => (deps.inventory === undefined ? Promise.resolve([]) : deps.inventory.targetsForUser(userId, now)),
      forwardContext: () => ({ ownListeners: this.#ownListeners(), localAddresses: this.#localAddressList(), allowLoopback: this.#cfg.allowLoopbackTargets }),
      audit: (e) => this.#audit(e),
      log: (level, msg, fields) => this.#log(level, msg, fields),
    });
    this.#publisher = new LivePublisher({
      repository: deps.store.liveConnections, registry: this.#watcher.registry, clock: deps.clock, intervalMs: deps.config.liveCheckMs,
      bytes: (c) => c.bytes?.() ?? { in: 0, out: 0 },
      end: (c, by) => this.#watcher.endByOperator(c, by),
      log: (level, msg, fields) => this.#log(level, msg, fields),
    });
    this.#trustedProxies = (deps.trustedProxies ?? []).map((c) => parseCidr(c));
    this.#sessions = new SessionLimits({
      maxConnectionsPerUser: deps.config.maxConnectionsPerUser,
      maxConnectionsPerAddress: deps.config.maxConnectionsPerAddress,
      maxChannelsPerUser: deps.config.maxChannelsPerUser,
    });
    this.#refusals = new RefusalLog({
      intervalMs: REFUSAL_AUDIT_INTERVAL_MS, maxSources: REFUSAL_AUDIT_MAX_SOURCES, now: deps.clock.now(),
      record: (r) => this.#audit({ type: 'gateway.admission', outcome: 'denied', actor: null, clientAddress: r.address, details: { source: r.source, count: r.count, reasons: r.reasons, since: r.since, first: r.first } }),
    });
    this.#refusalTimer = setInterval(() => this.#refusals.flush(this.#d.clock.now()), REFUSAL_AUDIT_INTERVAL_MS);
    this.#refusalTimer.unref();
    // ML-KEM key exchange, the host certificate and server-sig-algs need the patched ssh2.
    installSsh2Extensions();
    this.#ssh = new SshServer(extendServerConfig({
      hostKeys: [deps.hostKey.privateKeyText],
      algorithms: GATEWAY_ALGORITHMS,
      ident: GATEWAY_IDENT,
      keepaliveInterval: KEEPALIVE_INTERVAL_MS,
      keepaliveCountMax: KEEPALIVE_COUNT_MAX,
    }, { hostKeyProviders: deps.hostCertificate ? [deps.hostCertificate.ssh2HostKey] : [], serverSigAlgs: SERVER_SIG_ALGS }));
    this.#ssh.on('connection', (client: Connection, info: SshConnectionInfo) => this.#onSshConnection(client, info));
    this.#ssh.on('error', (err: Error) => this.#log('warn', 'ssh server error', { error: err.message }));
    // Our own TCP server, so that limits apply before ssh2 allocates anything for the connection.
    this.#net = createServer({ noDelay: true }, (socket) => this.#onTcp(socket));
    this.#net.on('error', (err) => this.#log('warn', 'listener error', { error: err.message }));
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
        if (this.#cfg.allowLoopbackTargets) {
          this.#log('warn', 'AIRLOCK_GATEWAY_ALLOW_LOOPBACK_TARGETS is on: targets may be loopback addresses. For tests and single-host demos only, never in production.', {});
        }
        resolve();
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
    let authenticated = 0;
    for (const c of this.#open) if (c.identity !== null) authenticated++;
    return {
      connections: this.#open.size,
      authenticated,
      unauthenticated: this.#open.size - authenticated,
      refused: this.#refusals.total,
      logins: this.#stats.logins,
      rekeys: this.#stats.rekeys,
      channels: this.#stats.channels,
      hooksAvailable: this.#stats.hooksAvailable,
    };
  }

  async close(): Promise<void> {
    this.#watcher.stop();
    await this.#publisher.stop();
    void this.stopAccepting();
    clearInterval(this.#refusalTimer);
    this.#refusals.flush(this.#d.clock.now(), true);
    for (const live of this.#watcher.registry.connections()) for (const ch of live.channels) ch.close();
    for (const c of this.#open) c.socket.destroy();
    await this.#netClosed;
    // Each channel's record is written once both its halves have closed: wait for them (bounded).
    if (this.#stats.channels > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.#channelWaiters.push(resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_CHANNELS_MS))),
      ]);
      clearTimeout(timer);
    }
    await Promise.all(this.#auditsInFlight);
  }

  stopAccepting(): Promise<void> {
    // net.Server#close stops accepting at once; its callback waits for every open connection.
    this.#netClosed ??= new Promise<void>((resolve) => this.#net.close(() => resolve()));
    return Promise.resolve();
  }

  get openConnections(): number {
    return this.#open.size;
  }

  whenIdle(): Promise<void> {
    if (this.#open.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  endAll(message: string): void {
    // Authenticated clients read why (SSH_MSG_DISCONNECT; the socket is destroyed if they linger).
    for (const live of this.#watcher.registry.connections()) {
      live.ended = true;
      live.end(message);
      for (const ch of live.channels) ch.close();
    }
    // Anything else (still logging in, or between login and registration) is cut off.
    for (const c of this.#open) if (this.#live.get(c) === undefined) c.socket.destroy();
  }

  // ---- connections and pre-authentication limits ----

  #onTcp(socket: Socket): void {
    const peer = canonicalClientAddress(socket.remoteAddress ?? '');
    if (peer === undefined || socket.remotePort === undefined) {
      socket.destroy();
      return;
    }
    if (this.#trustedProxies.length === 0 || !cidrListContains(this.#trustedProxies, peer)) {
      this.#admit(socket, peer, socket.remotePort, false);
      return;
    }
    // A trusted load balancer: the client's address is in the PROXY header it must send first.
    if (this.#readingHeaders >= this.#cfg.maxUnauthenticated) {
      this.#refusal(peer, 'proxy_headers_pending');
      socket.destroy();
      return;
    }
    this.#readingHeaders++;
    socket.on('error', noop);
    void readProxyHeader(socket, Math.min(PROXY_HEADER_TIMEOUT_MS, this.#cfg.loginGraceMs)).then((r) => {
      this.#readingHeaders--;
      if (r.kind === 'refused') {
        if (r.reason !== 'closed') this.#refusal(peer, r.reason);
        socket.destroy();
        return;
      }
      // LOCAL (v2) / UNKNOWN (v1): the proxy's own health check, from the proxy's address, never penalised.
      const client = r.kind === 'proxy' ? canonicalClientAddress(r.source.address) : peer;
      if (client === undefined || socket.destroyed) {
        socket.destroy();
        return;
      }
      this.#admit(socket, client, r.kind === 'proxy' ? r.source.port : socket.remotePort ?? 0, r.kind === 'local');
    });
  }

  /** Applies the pre-authentication limits to a connection from `address` and hands it to ssh2. */
  #admit(socket: Socket, address: string, port: number, healthCheck: boolean): void {
    socket.setNoDelay(true);
    const conn: Conn = {
      socket, address, port, since: this.#d.clock.now(), sessionRelease: null, source: null, client: null, hooks: null, identity: null, failures: 0, penalised: healthCheck,
      graceTimer: null, rekeyTimer: null, rekeyAtBytes: 0, rekeying: false, channels: 0, sessions: 0, browser: null,
      relays: null,
    };
    const admission = this.#limiter.admit(address, conn.since, conn);
    if (!admission.ok) {
      // Refused outright, before ssh2 allocates anything (MaxStartups); counted, and audited per source
      // and interval (admission.ts): one record per refused SYN would let a flood write the database.
      this.#refusal(address, admission.reason);
      socket.destroy();
      return;
    }
    conn.source = admission.source;
    if (admission.preempted !== undefined) {
      // Fair share (preauth-limits.ts): the oldest connection of the heaviest source gives up its slot.
      const victim = admission.preempted;
      victim.source = null;
      this.#refusal(victim.address, 'preempted');
      this.#penalise(victim, 'noauth');
      victim.socket.destroy();
    }
    this.#open.add(conn);
    const key = `${socket.remoteAddress}|${socket.remotePort}`;
    this.#pending.set(key, conn);
    // Login grace time (OpenSSH LoginGraceTime): also covers sockets that send nothing, or only junk.
    conn.graceTimer = setTimeout(() => {
      conn.graceTimer = null;
      if (conn.identity === null) {
        this.#penalise(conn, 'grace');
        socket.destroy();
      }
    }, this.#cfg.loginGraceMs);
    // ssh2 ends the socket after a protocol error but keeps reading; once our side is finished there
    // is nothing more to say, so let go of it.
    socket.once('finish', () => socket.destroy());
    socket.on('error', noop);
    socket.once('close', () => {
      this.#pending.delete(key);
      this.#open.delete(conn);
      if (this.#open.size === 0) for (const wake of this.#idleWaiters.splice(0)) wake();
      if (conn.graceTimer) clearTimeout(conn.graceTimer);
      if (conn.rekeyTimer) clearTimeout(conn.rekeyTimer);
      if (conn.identity === null) this.#penalise(conn, conn.failures > 0 ? 'authfail' : 'noauth');
      this.#releaseSlot(conn);
      conn.sessionRelease?.();
    });
    this.#ssh.injectSocket(socket);
    // Checklist 11: only a trusted proxy may say where a connection comes from; anyone else who tries is dropped.
    // Behind a trusted proxy, a second header would be the client's own attempt.
    watchForProxyHeader(socket, () => {
      this.#refusal(address, 'proxy_header_untrusted');
      this.#penalise(conn, 'authfail');
      socket.destroy();
    });
  }

  /** Counts a refusal before authentication; audited per source and interval. */
  #refusal(address: string, reason: string): void {
    this.#refusals.note(address, reason, this.#d.clock.now());
  }

  #releaseSlot(conn: Conn): void {
    if (conn.source !== null) {
      this.#limiter.release(conn.source, conn);
      conn.source = null;
    }
  }

  #penalise(conn: Conn, kind: PenaltyKind): void {
    if (conn.penalised) return;
    conn.penalised = true;
    const now = this.#d.clock.now();
    const blocked = this.#limiter.penalise(conn.address, kind, now, Math.max(0, now - conn.since));
    if (blocked) {
      this.#audit({ type: 'gateway.penalty', outcome: 'denied', actor: null, clientAddress: conn.address, details: { reason: kind, max_ms: this.#cfg.penaltyMaxMs } });
    }
  }

  #onSshConnection(client: Connection, info: SshConnectionInfo): void {
    const key = `${info.ip}|${info.port}`;
    const conn = this.#pending.get(key);
    this.#pending.delete(key);
    client.on('error', noop);
    if (conn === undefined) {
      client.end();
      return;
    }
    conn.client = client;
    conn.software = String(info.header?.versions?.software ?? '').slice(0, 64);
    conn.hooks = hookConnection(client, (type) => {
      if (conn.identity !== null) this.#refused(conn, 'channel', { channel_type: type.slice(0, 64) });
    });
    this.#stats.hooksAvailable = conn.hooks.hooksAvailable;
    client.on('authentication', (ctx: AuthContext) => void this.#onAuth(conn, ctx));
    client.on('ready', () => this.#onReady(conn));
    client.on('rekey', () => {
      conn.rekeying = false;
      this.#stats.rekeys++;
      conn.rekeyAtBytes = conn.socket.bytesRead + conn.socket.bytesWritten + this.#cfg.rekeyBytes;
      conn.rekeyTimer?.refresh();
    });
    client.on('tcpip', (accept, reject, req) => void this.#onDirectTcpip(conn, accept, reject, req));
    client.on('session', (accept, reject) => void this.#onSession(conn, accept, reject));
    client.on('openssh.streamlocal', (_accept, reject, req) => {
      conn.hooks?.rejectWith(reject, OPEN_FAILURE.prohibited, 'Unix socket forwarding is not allowed through this gateway.');
      this.#refused(conn, 'direct-streamlocal', { socket_path: String(req.socketPath).slice(0, 200) });
    });
    // Remote forwarding (ssh -R) would make the gateway listen for the client: never.
    const onRequest = (_accept: unknown, reject: (() => void) | undefined, name: string, req: Record<string, unknown>) => {
      reject?.();
      if (name === 'tcpip-forward' || name === 'streamlocal-forward@openssh.com') {
        this.#refused(conn, name, name === 'tcpip-forward' ? { bind_address: String(req.bindAddr).slice(0, 200), bind_port: req.bindPort } : { socket_path: String(req.socketPath).slice(0, 200) });
      }
    };
    client.on('request', onRequest as (...args: unknown[]) => void);
  }

  // ---- authentication ----

  /** The methods offered after a failure: the same for every user name (auth-chains.ts). */
  get #advertised(): ('publickey' | 'keyboard-interactive')[] {
    return this.#browser?.advertisedMethods ?? this.#auth.advertisedMethods;
  }

  async #onAuth(conn: Conn, ctx: AuthContext): Promise<void> {
    if (ctx.method === 'keyboard-interactive' && this.#advertised.includes('keyboard-interactive')) {
      await this.#onBrowserAuth(conn, ctx);
      return;
    }
    if (ctx.method !== 'publickey') {
      // 'none' is how a client asks for the method list: not an attempt.
      if (ctx.method === 'none') {
        ctx.reject(this.#advertised);
        return;
      }
      const method = String(ctx.method);
      await this.#failAttempt(conn, ctx, () => this.#d.audit.record({
        type: 'gateway.auth', outcome: 'denied', actor: ctx.username.slice(0, 256), clientAddress: conn.address,
        details: { method, reason: 'method_not_enabled', message: `${method} login is not offered; use an Airlock certificate` },
      }));
      return;
    }
    const outcome = await this.#auth.decide({
      username: ctx.username,
      clientAddress: conn.address,
      keyAlgo: ctx.key.algo,
      keyData: ctx.key.data,
      hashAlgo: ctx.hashAlgo,
      signature: ctx.signature,
      signedData: ctx.blob,
    });
    if (conn.socket.destroyed) return;
    if (outcome.kind === 'pk_ok') {
      // Without a signature, accept() only answers PK_OK ("this key would do"): never a login.
      if (ctx.signature === undefined) ctx.accept();
      else ctx.reject(this.#advertised);
      return;
    }
    if (outcome.kind === 'reject') {
      // auth.ts judges revocation only after the signature: the key's holder learns why (revocation-banner.ts).
      if (outcome.reason === 'revoked' && ctx.signature !== undefined && outcome.serial !== undefined && conn.client !== null) sendAuthBanner(conn.client, revokedBanner(outcome.serial));
      await this.#failAttempt(conn, ctx, () => auditAuth(this.#d.audit, outcome, { username: ctx.username, clientAddress: conn.address }));
      return;
    }
    if (ctx.signature === undefined) {
      ctx.reject(this.#advertised);
      return;
    }
    {
      // The operator's chains: this factor alone may suffice, or only together with a browser login.
      // Without the browser-login module the chains still apply (a chain that needs a browser login
      // then cannot be completed and is refused): they must never fail open.
      let verdict: Awaited<ReturnType<GatewayBrowserLogin['afterFirstFactor']>> = 'refuse';
      try {
        verdict = this.#browser !== null
          ? await this.#browser.afterFirstFactor(outcome.identity)
          : await firstFactorVerdict(this.#cfg.authChains, outcome.identity, (userId) => this.#d.store.projects.projectsOfUser(userId));
      } catch (err) {
        this.#log('error', 'authentication chain check failed; login refused', { error: (err as Error).message });
      }
      if (conn.socket.destroyed) return;
      if (verdict === 'continue_with_browser' && this.#browser === null) verdict = 'refuse';
      if (verdict === 'continue_with_browser') {
        this.#browserConn(conn).partial = outcome.identity;
        this.#audit({
          type: 'gateway.auth', outcome: 'success', actor: outcome.identity.user.name, clientAddress: conn.address,
          details: { method: outcome.identity.method, fingerprint: outcome.identity.fingerprint, partial: true, next: 'browser' },
        });
        ctx.reject(['keyboard-interactive'], true);
        return;
      }
      if (verdict === 'refuse') {
        const identity = outcome.identity;
        await this.#failAttempt(conn, ctx, () => this.#d.audit.record({
          type: 'gateway.auth', outcome: 'denied', actor: identity.user.name, clientAddress: conn.address,
          details: { method: identity.method, reason: 'chain_not_allowed', message: `${identity.method} alone is not a login method for this account`, fingerprint: identity.fingerprint },
        }));
        return;
      }
    }
    if (!(await this.#admitSession(conn, outcome.identity))) return;
    try {
      await auditAuth(this.#d.audit, outcome, { username: ctx.username, clientAddress: conn.address });
    } catch (err) {
      // A login that cannot be recorded does not happen (checklist 15).
      this.#log('error', 'audit failed; login refused', { error: (err as Error).message });
      conn.sessionRelease?.();
      conn.sessionRelease = null;
      ctx.reject(this.#advertised);
      return;
    }
    if (conn.socket.destroyed) return;
    conn.identity = limitSessionAge(outcome.identity, this.#d.clock.now(), this.#cfg.maxSessionMs);
    this.#stats.logins++;
    ctx.accept();
  }

  /** The browser-login state of a connection, created on first use. */
  #browserConn(conn: Conn): BrowserAuthConnection {
    if (conn.browser === null) {
      const closed = new AbortController();
      conn.socket.once('close', () => closed.abort());
      conn.browser = {
        address: conn.address, ref: `${conn.address} port ${conn.port}`, partial: null, refused: false, signal: closed.signal,
        extendGrace: (ms) => {
          // A browser sign-in takes longer than the login grace time: keep the connection for the link's lifetime.
          if (conn.graceTimer === null || conn.identity !== null) return;
          clearTimeout(conn.graceTimer);
          // A real account's browser sign-in takes time; a slow person is not charged for it.
          conn.since = Number.POSITIVE_INFINITY;
          conn.graceTimer = setTimeout(() => {
            conn.graceTimer = null;
            if (conn.identity === null) {
              this.#penalise(conn, 'grace');
              conn.socket.destroy();
            }
          }, ms);
        },
      };
    }
    return conn.browser;
  }

  /** keyboard-interactive: the browser login (browser-login.ts), alone or after a key. */
  async #onBrowserAuth(conn: Conn, ctx: KeyboardPrompter & AuthContext): Promise<void> {
    const outcome = await this.#browser!.keyboardInteractive(ctx, this.#browserConn(conn));
    if (conn.socket.destroyed) return;
    if (outcome.kind === 'reject') {
      await this.#failAttempt(conn, ctx, () => this.#d.audit.record({
        type: 'gateway.auth', outcome: outcome.reason === 'internal' ? 'failure' : 'denied', actor: ctx.username.slice(0, 256), clientAddress: conn.address,
        details: { method: 'browser', reason: outcome.reason, message: outcome.message },
      }));
      // A final refusal (a denial in the browser, …) ends the connection: no other method may log it in.
      if (outcome.final === true) conn.client?.end();
      return;
    }
    const id = outcome.identity;
    if (!(await this.#admitSession(conn, id))) return;
    try {
      await this.#d.audit.record({
        type: 'gateway.auth', outcome: 'success', actor: id.user.name, clientAddress: conn.address,
        details: { method: id.method === 'browser' ? 'browser' : `${id.method}+browser`, approved_with: id.browserMethod ?? null, ...(id.fingerprint ? { fingerprint: id.fingerprint } : {}) },
      });
    } catch (err) {
      this.#log('error', 'audit failed; login refused', { error: (err as Error).message });
      conn.sessionRelease?.();
      conn.sessionRelease = null;
      ctx.reject(this.#advertised);
      return;
    }
    if (conn.socket.destroyed) return;
    conn.identity = limitSessionAge(id, this.#d.clock.now(), this.#cfg.maxSessionMs);
    this.#stats.logins++;
    ctx.accept();
  }

  /**
   * The per-user and per-address limits on authenticated connections (admission.ts), checked when a
   * login would succeed: over the limit, the client is disconnected with the reason, which OpenSSH prints
   * ("Received disconnect from …: Too many connections for alice: …"). A proven user is not penalised.
   */
  async #admitSession(conn: Conn, id: GatewayIdentity): Promise<boolean> {
    const verdict = this.#sessions.openConnection(id.user.id, id.user.name, conn.address);
    if (verdict.ok) {
      if (conn.socket.destroyed) verdict.release();
      else conn.sessionRelease = verdict.release;
      return !conn.socket.destroyed;
    }
    conn.penalised = true;
    try {
      await this.#d.audit.record({
        type: 'gateway.auth', outcome: 'denied', actor: id.user.name, clientAddress: conn.address,
        details: { method: id.method, reason: verdict.reason, limit: verdict.limit, message: verdict.message },
      });
    } catch (err) {
      this.#log('error', 'audit of a refused login failed', { error: (err as Error).message });
    }
    disconnectWithMessage(conn.client, conn.socket, verdict.message, DISCONNECT.tooManyConnections);
    return false;
  }

  async #failAttempt(conn: Conn, ctx: AuthContext, record: () => Promise<void>): Promise<void> {
    conn.failures++;
    try {
      await record();
    } catch (err) {
      this.#log('error', 'audit of a refused login failed', { error: (err as Error).message });
    }
    if (conn.socket.destroyed) return;
    ctx.reject(this.#advertised);
    if (conn.failures >= this.#cfg.maxAuthTries) {
      // OpenSSH MaxAuthTries: "Too many authentication failures".
      conn.client?.end();
    }
  }

  #onReady(conn: Conn): void {
    if (conn.graceTimer) {
      clearTimeout(conn.graceTimer);
      conn.graceTimer = null;
    }
    this.#releaseSlot(conn);
    const socket = conn.socket;
    conn.rekeyAtBytes = socket.bytesRead + socket.bytesWritten + this.#cfg.rekeyBytes;
    // Rekey by volume: checked when data arrives from the client, and from each target (what we are
    // about to send), so both directions are covered without a timer or any per-packet allocation.
    if (conn.client !== null) conn.relays = relayConnection(conn.client, socket, () => this.#rekeyIfDue(conn));
    if (conn.identity !== null) {
      this.#live.set(conn, this.#watcher.registry.add({
        socket, identity: conn.identity, clientAddress: conn.address, openedAt: this.#d.clock.now(),
        sessions: () => conn.sessions, end: (message) => disconnectWithMessage(conn.client, socket, message),
        bytes: () => ({ in: socket.bytesRead, out: socket.bytesWritten }),
      }));
    }
    conn.rekeyTimer = setTimeout(() => this.#rekey(conn), this.#cfg.rekeyIntervalMs);
    conn.rekeyTimer.unref();
  }

  #rekeyIfDue(conn: Conn): void {
    if (!conn.rekeying && conn.socket.bytesRead + conn.socket.bytesWritten >= conn.rekeyAtBytes) this.#rekey(conn);
  }

  #rekey(conn: Conn): void {
    if (conn.rekeying || conn.client === null || conn.socket.destroyed) return;
    conn.rekeying = true;
    // Rekeying again is re-armed by the 'rekey' event; the time limit restarts as well.
    conn.rekeyTimer?.refresh();
    conn.client.rekey();
  }

  // ---- channels ----

  /** The user's targets now (an inventory outage denies, it never widens). */
  async #targets(conn: Conn, liveAt = this.#d.clock.now()): Promise<Target[]> {
    if (this.#d.inventory === undefined) return [];
    return this.#d.inventory.targetsForUser(conn.identity!.user.id, liveAt);
  }

  #ownListeners(): OwnListener[] {
    return [{ address: this.#d.listen.host, port: this.address.port }, ...(this.#d.otherListeners?.() ?? [])];
  }

  #localAddressList(): string[] {
    const now = Date.now();
    if (this.#localAddresses === null || now - this.#localAddresses.at > LOCAL_ADDRESSES_TTL_MS) {
      const list: string[] = [];
      for (const entries of Object.values(networkInterfaces())) for (const e of entries ?? []) list.push(e.address);
      this.#localAddresses = { at: now, list };
    }
    return this.#localAddresses.list;
  }

  /** The forwarding decision and connection for one request: direct-tcpip channels and `why` both use it. */
  #dial(conn: Conn, targets: Target[], host: string, port: number): Promise<DialResult> {
    return dial({
      targets, host, port, clientAddress: conn.address,
      ownListeners: this.#ownListeners(), localAddresses: this.#localAddressList(), now: this.#d.clock.now(),
      allowLoopback: this.#cfg.allowLoopbackTargets,
    }, { connectTimeoutMs: this.#cfg.connectTimeoutMs, ...(this.#d.resolve ? { resolve: this.#d.resolve } : {}) });
  }

  async #onDirectTcpip(conn: Conn, accept: () => ServerChannel, reject: RejectConnection, req: { destIP: string; destPort: number; srcIP: string; srcPort: number }): Promise<void> {
    const hooks = conn.hooks!;
    const requested = { host: String(req.destIP).slice(0, 256), port: req.destPort };
    if (conn.channels >= MAX_CHANNELS_PER_CONNECTION) {
      hooks.rejectWith(reject, OPEN_FAILURE.resourceShortage, `At most ${MAX_CHANNELS_PER_CONNECTION} channels per connection.`);
      return;
    }
    const perUser = this.#sessions.openChannel(conn.identity!.user.id, conn.identity!.user.name);
    if (!perUser.ok) {
      hooks.rejectWith(reject, OPEN_FAILURE.resourceShortage, perUser.message);
      this.#audit({ type: 'gateway.channel', outcome: 'denied', actor: conn.identity!.user.name, clientAddress: conn.address, details: { channel: 'direct-tcpip', ...requested, reason: perUser.reason, limit: perUser.limit } });
      return;
    }
    conn.channels++;
    let released = false;
    const release = () => {
      if (!released) {
        released = true;
        conn.channels--;
        perUser.release();
      }
    };
    const check = await this.#auth.recheck(conn.identity!);
    if (!check.ok) {
      release();
      hooks.rejectWith(reject, OPEN_FAILURE.prohibited, check.message);
      this.#audit({ type: 'gateway.channel', outcome: 'denied', actor: conn.identity!.user.name, clientAddress: conn.address, details: { channel: 'direct-tcpip', ...requested, reason: check.reason } });
      return;
    }
    const noForwarding = forwardingRefusal(conn.identity!);
    if (noForwarding !== undefined) {
      release();
      hooks.rejectWith(reject, OPEN_FAILURE.prohibited, noForwarding);
      this.#audit({ type: 'gateway.channel', outcome: 'denied', actor: conn.identity!.user.name, clientAddress: conn.address, details: { channel: 'direct-tcpip', ...requested, reason: 'no_port_forwarding', message: noForwarding } });
      return;
    }
    let targets: Target[];
    try {
      targets = await this.#targets(conn);
    } catch (err) {
      release();
      hooks.rejectWith(reject, OPEN_FAILURE.prohibited, 'Your targets could not be looked up; try again later.');
      this.#audit({ type: 'gateway.channel', outcome: 'failure', actor: conn.identity!.user.name, clientAddress: conn.address, details: { channel: 'direct-tcpip', ...requested, reason: 'internal', message: (err as Error).message } });
      return;
    }
    const result = await this.#dial(conn, targets, requested.host, requested.port);
    const user = conn.identity!.user.name;
    if (!result.ok) {
      release();
      if (result.stage === 'policy') {
        hooks.rejectWith(reject, OPEN_FAILURE.prohibited, result.decision.message);
        this.#audit({
          type: 'gateway.channel', outcome: 'denied', actor: user, clientAddress: conn.address,
          details: { channel: 'direct-tcpip', ...requested, reason: result.decision.reason, ...(result.decision.forbidden ? { forbidden: result.decision.forbidden } : {}), message: result.decision.message },
        });
      } else {
        hooks.rejectWith(reject, OPEN_FAILURE.connectFailed, result.message);
        this.#audit({
          type: 'gateway.channel', outcome: 'failure', actor: user, clientAddress: conn.address,
          details: { channel: 'direct-tcpip', ...requested, target: result.target.name, address: result.address, reason: result.reason, message: result.message },
        });
      }
      return;
    }
    const socket = result.socket;
    // ssh2's accept() returns nothing once the connection is gone or the request was answered.
    const channel = conn.socket.destroyed ? undefined : (accept() as ServerChannel | undefined);
    if (channel === undefined) {
      release();
      socket.destroy();
      return;
    }
    this.#stats.channels++;
    const openedAt = this.#d.clock.now();
    const live = this.#live.get(conn);
    if (live !== undefined) {
      this.#watcher.registry.addChannel(live, {
        channel, target: result.target, host: requested.host, port: requested.port, address: result.address, openedAt,
        close: () => {
          socket.destroy();
          if (conn.socket.writable) channel.close();
        },
      });
    }
    let closedParts = 0;
    const finished = () => {
      if (++closedParts < 2) return;
      release();
      this.#stats.channels--;
      if (this.#stats.channels === 0) for (const wake of this.#channelWaiters.splice(0)) wake();
      this.#audit({
        type: 'gateway.channel', outcome: 'success', actor: user, clientAddress: conn.address,
        details: {
          channel: 'direct-tcpip', ...requested, target: result.target.name, project: result.target.projectName, address: result.address,
          bytes_in: socket.bytesWritten, bytes_out: socket.bytesRead, duration_ms: this.#d.clock.now() - openedAt,
        },
      });
    };
    socket.on('error', noop);
    channel.on('error', noop);
    // Client to target: straight from ssh2's decryption into the socket (channel-relay.ts), with the
    // channel's window as backpressure. Target to client: pipe(), which pauses the socket while the
    // channel's window is used up. The client's EOF ends the socket, as pipe() would.
    conn.relays!.add(channel, socket);
    channel.once('end', () => socket.end());
    channel.resume();
    socket.pipe(channel);
    socket.on('data', () => this.#rekeyIfDue(conn));
    socket.once('close', () => {
      // A reset target never sends 'end', so pipe() would not end the channel.
      channel.end();
      finished();
    });
    channel.once('close', () => {
      socket.end();
      socket.setTimeout(LINGER_MS, () => socket.destroy());
      finished();
    });
  }

  async #onSession(conn: Conn, accept: () => Session, reject: RejectConnection): Promise<void> {
    const hooks = conn.hooks!;
    if (conn.sessions >= MAX_SESSIONS_PER_CONNECTION) {
      hooks.rejectWith(reject, OPEN_FAILURE.resourceShortage, `At most ${MAX_SESSIONS_PER_CONNECTION} sessions per connection.`);
      return;
    }
    const perUser = this.#sessions.openChannel(conn.identity!.user.id, conn.identity!.user.name);
    if (!perUser.ok) {
      hooks.rejectWith(reject, OPEN_FAILURE.resourceShortage, perUser.message);
      this.#audit({ type: 'gateway.channel', outcome: 'denied', actor: conn.identity!.user.name, clientAddress: conn.address, details: { channel: 'session', reason: perUser.reason, limit: perUser.limit } });
      return;
    }
    conn.sessions++;
    const check = await this.#auth.recheck(conn.identity!);
    if (!check.ok) {
      this.#audit({ type: 'gateway.channel', outcome: 'denied', actor: conn.identity!.user.name, clientAddress: conn.address, details: { channel: 'session', reason: check.reason } });
      // Accepted only to tell the reason, which a mux client would lose in a refusal (refused-session.ts).
      const told = conn.socket.destroyed ? undefined : (accept() as Session | undefined);
      if (told === undefined) {
        conn.sessions--;
        perUser.release();
        return;
      }
      told.once('close', () => {
        conn.sessions--;
        perUser.release();
      });
      tellRefusal(told, check.message);
      return;
    }
    const session = conn.socket.destroyed ? undefined : (accept() as Session | undefined);
    if (session === undefined) {
      conn.sessions--;
      perUser.release();
      return;
    }
    let pty = false;
    let started = false;
    session.once('close', () => {
      conn.sessions--;
      perUser.release();
    });
    session.on('pty', (ok: (() => void) | undefined) => {
      pty = true;
      ok?.();
    });
    session.on('window-change', (ok: (() => void) | undefined) => ok?.());
    session.on('signal', (_ok: unknown, no: (() => void) | undefined) => no?.());
    // Environment variables mean nothing to the lobby, and accepting them invites LD_PRELOAD-style games.
    session.on('env', (_ok: unknown, no: (() => void) | undefined) => no?.());
    session.on('x11', (_ok: unknown, no: (() => void) | undefined) => {
      no?.();
      this.#refused(conn, 'x11-req', {});
    });
    session.on('auth-agent', (_ok: unknown, no: (() => void) | undefined) => {
      no?.();
      this.#refused(conn, 'auth-agent-req@openssh.com', {});
    });
    session.on('subsystem', (_ok: unknown, no: (() => void) | undefined, info: { name: string }) => {
      no?.();
      this.#refused(conn, 'subsystem', { name: String(info.name).slice(0, 64) });
    });
    const run = (ch: ServerChannel, command: string | undefined, request: 'shell' | 'exec') => {
      if (started) return;
      started = true;
      void this.#runLobby(conn, ch, command, pty, request);
    };
    session.on('shell', (ok: () => ServerChannel) => run(ok(), undefined, 'shell'));
    session.on('exec', (ok: () => ServerChannel, _no: unknown, info: { command: string }) => run(ok(), info.command, 'exec'));
  }

  async #runLobby(conn: Conn, ch: ServerChannel, command: string | undefined, pty: boolean, request: 'shell' | 'exec'): Promise<void> {
    ch.on('error', noop);
    const id = conn.identity!;
    const cmd = parseLobbyCommand(command);
    let status = 0;
    let out = '';
    let err = '';
    // `cert` reads a public key from stdin and answers with a certificate (browser-login.ts; never throws).
    const why = parseWhyCommand(command);
    if (why !== undefined) ({ status, err } = await this.#why(conn, why));
    else if (cmd.kind === 'cert' && this.#browser !== null) ({ status, out, err } = await this.#browser.certCommand(id, ch, conn.address));
    else try {
      const view: LobbyView = {
        userName: id.user.name, method: id.method, serial: id.serial, validBefore: id.validBefore,
        targets: cmd.kind === 'text' || cmd.kind === 'json' ? await this.#targets(conn) : [],
        gateway: this.publicAddress, now: this.#d.clock.now(), clientAddress: conn.address, client: lobbyClientOf(conn.software),
      };
      if (cmd.kind === 'text') out = renderLobbyText(view);
      else if (cmd.kind === 'json') out = renderLobbyJson(view);
      else if (cmd.kind === 'help') out = renderLobbyHelp(view);
      else {
        status = 2;
        err = cmd.kind === 'cert'
          ? 'Certificates are not issued at this gateway.\n'
          : `Unknown command "${cmd.command}": this gateway runs no commands. To log in to a target use ssh -J; "hosts" lists your targets.\n`;
      }
    } catch (e) {
      status = 1;
      err = 'Your targets could not be looked up; try again later.\n';
      this.#log('error', 'lobby failed', { error: (e as Error).message });
    }
    const crlf = (s: string) => (pty ? s.replace(/\n/g, '\r\n') : s);
    if (out) ch.write(crlf(out));
    if (err) ch.stderr.write(crlf(err));
    this.#audit({
      type: 'gateway.channel', outcome: status === 0 ? 'success' : 'failure', actor: id.user.name, clientAddress: conn.address,
      details: { channel: 'session', request, command: (command ?? '').slice(0, 200), exit_status: status },
    });
    ch.exit(status);
    ch.end();
  }

  /** `why HOST PORT` (why-command.ts): the same dial a channel makes; a connected socket is closed at once. */
  async #why(conn: Conn, why: ReturnType<typeof parseWhyCommand>): Promise<{ status: number; err: string }> {
    if (why === undefined || 'error' in why) return { status: 2, err: why?.error ?? '' };
    try {
      // Expired targets too (liveAt 0): the policy itself refuses them, with "has expired" as the reason.
      const result = await this.#dial(conn, await this.#targets(conn, 0), why.host, why.port);
      if (result.ok) result.socket.destroy();
      return explainDial(result, why);
    } catch (e) {
      this.#log('error', 'why failed', { error: (e as Error).message });
      return { status: 1, err: 'Your targets could not be looked up; try again later.\n' };
    }
  }

  // ---- audit and logs ----

  #refused(conn: Conn, request: string, details: Record<string, unknown>): void {
    this.#audit({ type: 'gateway.refused', outcome: 'denied', actor: conn.identity?.user.name ?? null, clientAddress: conn.address, details: { request, ...details } });
  }

  /** Records an audit event off the hot path; a failure is logged (auth paths await their own records). */
  #audit(event: AuditInput): void {
    const p = this.#d.audit.record(event).catch((err: unknown) => this.#log('error', 'audit record failed', { error: (err as Error).message, type: event.type }));
    this.#auditsInFlight.add(p);
    void p.finally(() => this.#auditsInFlight.delete(p));
  }

  #log(level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown>): void {
    const f = { component: 'gateway', ...fields };
    if (level === 'error') this.#logger.error(msg, undefined, f);
    else this.#logger[level](msg, f);
  }
}
