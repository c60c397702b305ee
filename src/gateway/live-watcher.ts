/**
 * The live watcher: ends live connections and channels whose access was taken away (issue 10, item 5)
 * — a certificate revoked (by serial, by user, all of a user's), a user disabled, a target removed or
 * no longer the user's, a registered key removed, a job no longer the user's (a connection's own
 * `access` rule) — within a second, on every replica, and those whose certificate, maximum session age
 * or target expired, on time.
 *
 * Learning of changes: one small query every `intervalMs` (default 500 ms) reads two counters from
 * `settings` — the access version (store/access-version.ts) and the KRL version — which every replica
 * and the admin CLI bump after such writes. Only when they move are the live connections re-checked,
 * so an idle gateway costs one indexed read per interval (and none at all without connections).
 *
 * Re-checking uses the same rules as a channel open, one implementation each: `recheck` (auth.ts) for
 * the login, the forwarding policy (policy/forward.ts) for each channel, fed the address that was
 * actually dialled. A connection whose login no longer holds is ended with SSH_MSG_DISCONNECT and a
 * one-line reason (OpenSSH prints it); a channel whose target is gone is closed, and its connection too
 * when nothing else is open on it (an `ssh -J` hop carries exactly one channel). A store outage
 * ends nothing: it is logged and retried, and new channels are refused meanwhile by the open checks.
 */
import type { AuditInput } from '../audit/auditor.ts';
import type { Clock } from '../clock.ts';
import type { Target } from '../inventory/ports.ts';
import { decideForward, type OwnListener } from '../policy/forward.ts';
import { LIVE_VERSION_KEYS } from '../store/access-version.ts';
import type { SettingsRepository } from '../store/repositories.ts';
import type { GatewayIdentity, Recheck } from './auth.ts';
import { LiveRegistry, type LiveChannel, type LiveConnection } from './live-registry.ts';

/** Connections re-checked at once in a sweep (bounds concurrent database queries). */
const SWEEP_CONCURRENCY = 8;
/** A failing poll is logged at most this often. */
const POLL_ERROR_LOG_MS = 60_000;

export interface LiveWatcherDeps {
  settings: Pick<SettingsRepository, 'getMany'>;
  clock: Clock;
  intervalMs: number;
  /** The login re-check used at channel open (auth.ts). */
  recheck: (id: GatewayIdentity) => Promise<Recheck>;
  /** The user's targets now, as at channel open. */
  targetsForUser: (userId: string, now: number) => Promise<Target[]>;
  /** What the forwarding policy needs besides targets: the gateway's listeners and addresses. */
  forwardContext: () => { ownListeners: OwnListener[]; localAddresses: string[]; allowLoopback: boolean };
  audit: (event: AuditInput) => void;
  log: (level: 'warn' | 'error', msg: string, fields: Record<string, unknown>) => void;
}

/** What the watcher has done, for tests and operators. */
export interface LiveWatcherStats {
  polls: number;
  sweeps: number;
  connectionsEnded: number;
  channelsClosed: number;
}

/** Why a channel was closed, as its user reads it. */
function channelMessage(target: string, reason: string, policyMessage: string | undefined): string {
  if (reason === 'not_a_target' || reason === 'target_replaced') return `Target ${target} was removed or is no longer open to you; its connection is closed.`;
  if (reason === 'target_expired') return `Target ${target} has expired; its connection is closed.`;
  return `${policyMessage ?? `Target ${target} is no longer reachable for you.`} Its connection is closed.`;
}

/** Watches for access taken away and ends the affected live connections and channels. */
export class LiveWatcher {
  readonly registry: LiveRegistry;
  readonly #d: LiveWatcherDeps;
  #timer: NodeJS.Timeout | null = null;
  #polling = false;
  #seen: string | undefined;
  #lastPollError = 0;
  #stats: LiveWatcherStats = { polls: 0, sweeps: 0, connectionsEnded: 0, channelsClosed: 0 };

  constructor(deps: LiveWatcherDeps) {
    this.#d = deps;
    this.registry = new LiveRegistry(() => deps.clock.now(), (conn) => void this.check(conn));
  }

  /** Starts polling. */
  start(): void {
    if (this.#timer !== null) return;
    this.#timer = setInterval(() => void this.poll(), this.#d.intervalMs);
    this.#timer.unref();
  }

  /** Stops polling. */
  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  stats(): LiveWatcherStats {
    return { ...this.#stats };
  }

  /** One poll: reads the version counters and re-checks every live connection when they moved. */
  async poll(): Promise<void> {
    if (this.#polling) return;
    if (this.registry.size === 0) {
      // Nothing to end: skip the query. The first poll with a connection re-checks it.
      this.#seen = undefined;
      return;
    }
    this.#polling = true;
    try {
      this.#stats.polls++;
      const values = await this.#d.settings.getMany(LIVE_VERSION_KEYS);
      const seen = LIVE_VERSION_KEYS.map((k) => values.get(k) ?? '0').join('/');
      if (seen !== this.#seen) {
        this.#seen = seen;
        await this.sweep();
      }
    } catch (err) {
      const now = Date.now();
      if (now - this.#lastPollError >= POLL_ERROR_LOG_MS) {
        this.#lastPollError = now;
        this.#d.log('warn', 'live-session check failed; retrying', { error: (err as Error).message });
      }
    } finally {
      this.#polling = false;
    }
  }

  /** Re-checks every live connection (a few at a time), sharing each user's target list. */
  async sweep(): Promise<void> {
    this.#stats.sweeps++;
    const targets = new Map<string, Promise<Target[]>>();
    const queue = this.registry.connections();
    const worker = async () => {
      for (let conn = queue.shift(); conn !== undefined; conn = queue.shift()) await this.check(conn, targets);
    };
    await Promise.all(Array.from({ length: Math.min(SWEEP_CONCURRENCY, queue.length) }, worker));
  }

  /** Re-checks one connection and its channels; never throws. */
  async check(conn: LiveConnection, targetCache?: Map<string, Promise<Target[]>>): Promise<void> {
    if (conn.ended) return;
    const id = conn.identity;
    const login = await this.#d.recheck(id);
    if (conn.ended) return;
    if (!login.ok) {
      // A store outage is not a revocation: nothing is ended, the next poll tries again.
      if (login.reason === 'internal') return;
      this.#endConnection(conn, login.reason, login.message);
      return;
    }
    if (conn.access !== undefined) {
      let own;
      try {
        own = await conn.access();
      } catch (err) {
        this.#d.log('warn', 'live-session check could not read the connection\'s access', { error: (err as Error).message, user: id.user.name });
        return;
      }
      if (conn.ended) return;
      if (!own.ok) {
        // As for the login: an outage is not a decision; the next poll tries again.
        if (own.reason !== 'internal') this.#endConnection(conn, own.reason, own.message);
        return;
      }
    }
    if (conn.channels.size === 0) return;
    const now = this.#d.clock.now();
    let targets: Target[];
    try {
      let pending = targetCache?.get(id.user.id);
      if (pending === undefined) {
        pending = this.#d.targetsForUser(id.user.id, now);
        targetCache?.set(id.user.id, pending);
      }
      targets = await pending;
    } catch (err) {
      this.#d.log('warn', 'live-session check could not read targets', { error: (err as Error).message, user: id.user.name });
      return;
    }
    if (conn.ended) return;
    const ctx = this.#d.forwardContext();
    const gone: { ch: LiveChannel; reason: string; message: string }[] = [];
    for (const ch of conn.channels) {
      if (ch.closed) continue;
      // The address that was dialled stands in for DNS: no lookup here, and a target re-registered
      // elsewhere (another id) does not keep an old channel alive.
      const d = decideForward({ targets, host: ch.host, port: ch.port, resolvedAddresses: [ch.address], clientAddress: conn.clientAddress, now, ...ctx });
      if (d.decision === 'allow' && d.target.id === ch.target.id) continue;
      let reason: string = d.decision === 'deny' ? d.reason : 'target_replaced';
      // The user's target list leaves expired targets out: name the expiry rather than "not a target".
      if (reason === 'not_a_target' && ch.target.expiresAt !== null && ch.target.expiresAt <= now) reason = 'target_expired';
      gone.push({ ch, reason, message: channelMessage(ch.target.name, reason, d.decision === 'deny' ? d.message : undefined) });
    }
    if (gone.length === 0) return;
    // Nothing would be left on the connection (an `ssh -J` hop carries one channel): end it first, so
    // that the client reads the reason before the channel closes (`ssh -W` exits at the close).
    if (gone.length === conn.channels.size && conn.sessions() === 0) this.#disconnect(conn, gone[gone.length - 1]!.message);
    for (const g of gone) this.#closeChannel(conn, g.ch, g.reason, g.message);
  }

  /** Ends a connection because an operator asked to (the connections page, on any replica). */
  endByOperator(conn: LiveConnection, by: string): void {
    if (conn.ended) return;
    this.#endConnection(conn, 'ended_by_operator', 'An operator ended this connection. Ask your operators if you need access again.', by);
  }

  #closeChannel(conn: LiveConnection, ch: LiveChannel, reason: string, message: string): void {
    ch.closed = true;
    conn.channels.delete(ch);
    this.#stats.channelsClosed++;
    ch.close();
    this.#d.audit({
      type: 'gateway.ended', outcome: 'denied', actor: conn.identity.user.name, clientAddress: conn.clientAddress,
      details: {
        scope: 'channel', reason, message, channel: 'direct-tcpip', host: ch.host, port: ch.port, target: ch.target.name, address: ch.address,
        duration_ms: this.#d.clock.now() - ch.openedAt,
      },
    });
  }

  #endConnection(conn: LiveConnection, reason: string, message: string, by?: string): void {
    const id = conn.identity;
    const channels = [...conn.channels];
    this.#d.audit({
      type: 'gateway.ended', outcome: 'denied', actor: id.user.name, clientAddress: conn.clientAddress,
      details: {
        scope: 'connection', reason, message, ...(by !== undefined ? { by } : {}), method: id.method, ...(id.serial !== null ? { serial: id.serial.toString() } : {}),
        channels: channels.map((c) => c.target.name), duration_ms: this.#d.clock.now() - conn.openedAt,
      },
    });
    // The DISCONNECT goes first, so that the client prints the reason rather than a closed channel.
    this.#disconnect(conn, message);
    for (const ch of channels) {
      ch.closed = true;
      ch.close();
    }
    conn.channels.clear();
  }

  #disconnect(conn: LiveConnection, message: string): void {
    if (conn.ended) return;
    conn.ended = true;
    this.#stats.connectionsEnded++;
    conn.end(message);
  }
}
