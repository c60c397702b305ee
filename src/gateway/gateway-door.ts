/**
 * The gateway's door: every TCP connection passes it before ssh2 allocates anything. It reads the PROXY
 * header of a trusted load balancer (proxy-socket.ts), applies the pre-authentication limits
 * (preauth-limits.ts: per source, in total, fair share, penalties), audits refusals per source and interval
 * (admission.ts), enforces the login grace time, and then hands the socket to ssh2. The main listener and
 * the per-job listeners share one door, so their limits are one budget.
 */
import type { Socket } from 'node:net';
import { canonicalClientAddress } from '../policy/forward.ts';
import { cidrListContains, parseCidr, type Cidr } from '../ssh/cidr.ts';
import { RefusalLog } from './admission.ts';
import { noop, type Conn, type GatewayContext, type SshConnectionInfo } from './gateway-conn.ts';
import { PreAuthLimiter, type PenaltyKind } from './preauth-limits.ts';
import { readProxyHeader, watchForProxyHeader } from './proxy-socket.ts';

/** A trusted proxy writes its PROXY header at once; this is the most we wait for it (within the grace time). */
const PROXY_HEADER_TIMEOUT_MS = 5_000;
/** Refusals before authentication are audited once per source and this interval (admission.ts). */
const REFUSAL_AUDIT_INTERVAL_MS = 60_000;
const REFUSAL_AUDIT_MAX_SOURCES = 1_000;

/** Per-listener checks at the door, made with the client's real address before any SSH byte. */
export interface DoorOptions {
  /** A refusal reason for this client address, or undefined to let it in (job CIDRs). */
  screen?: (address: string) => string | undefined;
  /** Called with the new connection's state once admitted, before ssh2 sees it. */
  admitted?: (conn: Conn) => void;
}

/** Pre-authentication admission for all of the gateway's listeners. */
export class GatewayDoor {
  readonly #ctx: GatewayContext;
  readonly #limiter: PreAuthLimiter<Conn>;
  readonly #refusals: RefusalLog;
  readonly #refusalTimer: NodeJS.Timeout;
  readonly #trustedProxies: Cidr[];
  readonly #inject: (socket: Socket) => void;
  /** Connections from trusted proxies whose PROXY header is still being read. */
  #readingHeaders = 0;
  /** Connections between TCP accept and ssh2's identification exchange, by `ip|port`. */
  readonly #pending = new Map<string, Conn>();
  /** Every admitted connection until its socket closes. */
  readonly open = new Set<Conn>();

  constructor(ctx: GatewayContext, inject: (socket: Socket) => void) {
    this.#ctx = ctx;
    this.#inject = inject;
    const cfg = ctx.cfg;
    this.#limiter = new PreAuthLimiter({
      maxPerSource: cfg.maxUnauthenticatedPerAddress,
      maxTotal: cfg.maxUnauthenticated,
      penalties: cfg.penalties,
      penaltyMaxMs: cfg.penaltyMaxMs,
      exempt: cfg.penaltyExempt.map((c) => parseCidr(c)),
      heldCapMs: cfg.loginGraceMs,
    });
    this.#trustedProxies = (ctx.deps.trustedProxies ?? []).map((c) => parseCidr(c));
    this.#refusals = new RefusalLog({
      intervalMs: REFUSAL_AUDIT_INTERVAL_MS, maxSources: REFUSAL_AUDIT_MAX_SOURCES, now: ctx.deps.clock.now(),
      record: (r) => ctx.audit({ type: 'gateway.admission', outcome: 'denied', actor: null, clientAddress: r.address, details: { source: r.source, count: r.count, reasons: r.reasons, since: r.since, first: r.first } }),
    });
    this.#refusalTimer = setInterval(() => this.#refusals.flush(ctx.deps.clock.now()), REFUSAL_AUDIT_INTERVAL_MS);
    this.#refusalTimer.unref();
  }

  /** Connections refused before authentication since start. */
  get refused(): number {
    return this.#refusals.total;
  }

  /** Flushes the refusal log and destroys every open connection. */
  close(): void {
    clearInterval(this.#refusalTimer);
    this.#refusals.flush(this.#ctx.deps.clock.now(), true);
    for (const c of this.open) c.socket.destroy();
  }

  /** A new TCP connection on one of the gateway's listeners. */
  accept(socket: Socket, options: DoorOptions = {}): void {
    const peer = canonicalClientAddress(socket.remoteAddress ?? '');
    if (peer === undefined || socket.remotePort === undefined) {
      socket.destroy();
      return;
    }
    if (this.#trustedProxies.length === 0 || !cidrListContains(this.#trustedProxies, peer)) {
      this.#admit(socket, peer, socket.remotePort, false, options);
      return;
    }
    // A trusted load balancer: the client's address is in the PROXY header it must send first.
    if (this.#readingHeaders >= this.#ctx.cfg.maxUnauthenticated) {
      this.refusal(peer, 'proxy_headers_pending');
      socket.destroy();
      return;
    }
    this.#readingHeaders++;
    socket.on('error', noop);
    void readProxyHeader(socket, Math.min(PROXY_HEADER_TIMEOUT_MS, this.#ctx.cfg.loginGraceMs)).then((r) => {
      this.#readingHeaders--;
      if (r.kind === 'refused') {
        if (r.reason !== 'closed') this.refusal(peer, r.reason);
        socket.destroy();
        return;
      }
      // LOCAL (v2) / UNKNOWN (v1): the proxy's own health check, from the proxy's address, never penalised.
      const client = r.kind === 'proxy' ? canonicalClientAddress(r.source.address) : peer;
      if (client === undefined || socket.destroyed) {
        socket.destroy();
        return;
      }
      this.#admit(socket, client, r.kind === 'proxy' ? r.source.port : socket.remotePort ?? 0, r.kind === 'local', options);
    });
  }

  /** The admitted connection ssh2 has just started on, taken out of the pending list. */
  claim(info: SshConnectionInfo): Conn | undefined {
    const key = `${info.ip}|${info.port}`;
    const conn = this.#pending.get(key);
    this.#pending.delete(key);
    return conn;
  }

  /** Applies the pre-authentication limits to a connection from `address` and hands it to ssh2. */
  #admit(socket: Socket, address: string, port: number, healthCheck: boolean, options: DoorOptions): void {
    const screened = options.screen?.(address);
    if (screened !== undefined) {
      // Closed before any SSH byte is written (not even the identification string); counted and audited.
      this.refusal(address, screened);
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const conn: Conn = {
      socket, address, port, since: this.#ctx.deps.clock.now(), sessionRelease: null, source: null, client: null, hooks: null, identity: null, failures: 0, penalised: healthCheck,
      graceTimer: null, rekeyTimer: null, rekeyAtBytes: 0, rekeying: false, channels: 0, sessions: 0, browser: null,
      relays: null,
    };
    const admission = this.#limiter.admit(address, conn.since, conn);
    if (!admission.ok) {
      // Refused outright, before ssh2 allocates anything (MaxStartups); counted, and audited per source
      // and interval (admission.ts): one record per refused SYN would let a flood write the database.
      this.refusal(address, admission.reason);
      socket.destroy();
      return;
    }
    conn.source = admission.source;
    if (admission.preempted !== undefined) {
      // Fair share (preauth-limits.ts): the oldest connection of the heaviest source gives up its slot.
      const victim = admission.preempted;
      victim.source = null;
      this.refusal(victim.address, 'preempted');
      this.penalise(victim, 'noauth');
      victim.socket.destroy();
    }
    this.open.add(conn);
    options.admitted?.(conn);
    const key = `${socket.remoteAddress}|${socket.remotePort}`;
    this.#pending.set(key, conn);
    // Login grace time (OpenSSH LoginGraceTime): also covers sockets that send nothing, or only junk.
    conn.graceTimer = setTimeout(() => {
      conn.graceTimer = null;
      if (conn.identity === null) {
        this.penalise(conn, 'grace');
        socket.destroy();
      }
    }, this.#ctx.cfg.loginGraceMs);
    // ssh2 ends the socket after a protocol error but keeps reading; once our side is finished there
    // is nothing more to say, so let go of it.
    socket.once('finish', () => socket.destroy());
    socket.on('error', noop);
    socket.once('close', () => {
      this.#pending.delete(key);
      this.open.delete(conn);
      if (this.open.size === 0) for (const wake of this.#ctx.waiters.idle.splice(0)) wake();
      if (conn.graceTimer) clearTimeout(conn.graceTimer);
      if (conn.rekeyTimer) clearTimeout(conn.rekeyTimer);
      if (conn.identity === null) this.penalise(conn, conn.failures > 0 ? 'authfail' : 'noauth');
      this.releaseSlot(conn);
      conn.sessionRelease?.();
    });
    this.#inject(socket);
    // Checklist 11: only a trusted proxy may say where a connection comes from; anyone else who tries is dropped.
    // Behind a trusted proxy, a second header would be the client's own attempt.
    watchForProxyHeader(socket, () => {
      this.refusal(address, 'proxy_header_untrusted');
      this.penalise(conn, 'authfail');
      socket.destroy();
    });
  }

  /** Counts a refusal before authentication; audited per source and interval. */
  refusal(address: string, reason: string): void {
    this.#refusals.note(address, reason, this.#ctx.deps.clock.now());
  }

  /** Gives the connection's pre-authentication slot back (at login, or when it closes). */
  releaseSlot(conn: Conn): void {
    if (conn.source !== null) {
      this.#limiter.release(conn.source, conn);
      conn.source = null;
    }
  }

  /** Charges the connection's source for a failed or idle pre-authentication stay (once per connection). */
  penalise(conn: Conn, kind: PenaltyKind): void {
    if (conn.penalised) return;
    conn.penalised = true;
    const now = this.#ctx.deps.clock.now();
    const blocked = this.#limiter.penalise(conn.address, kind, now, Math.max(0, now - conn.since));
    if (blocked) {
      this.#ctx.audit({ type: 'gateway.penalty', outcome: 'denied', actor: null, clientAddress: conn.address, details: { reason: kind, max_ms: this.#ctx.cfg.penaltyMaxMs } });
    }
  }
}
