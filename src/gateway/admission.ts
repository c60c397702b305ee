/**
 * Admission after and around authentication (issue 10, items 2 and 3), pure bookkeeping over an
 * injected time:
 *  - `SessionLimits`: authenticated connections per user and per client address, and channels per user
 *    over all of that user's connections. One user with 30 connections once opened 1,920 channels and
 *    1,950 file descriptors; about 310 such connections would exhaust the process. The per-connection
 *    caps (gateway.ts) do not stop that, a per-user total does. Per gateway process: each replica has
 *    its own file descriptors to protect.
 *  - `RefusalLog`: refusals before authentication (caps, penalties, PROXY headers from strangers) are
 *    counted and audited without letting a flood turn every refused SYN into a database write: the
 *    first refusal of a source in an interval is recorded at once, the rest as one summary per source
 *    when the interval ends; past `maxSources` sources in one interval, the rest share one summary.
 */
import { sourceKey } from './preauth-limits.ts';

export interface SessionLimitsConfig {
  maxConnectionsPerUser: number;
  maxConnectionsPerAddress: number;
  maxChannelsPerUser: number;
}

export type LimitVerdict =
  | { ok: true; release: () => void }
  | { ok: false; reason: 'connections_per_user' | 'connections_per_address' | 'channels_per_user'; limit: number; message: string };

/** Counts authenticated connections and channels; every admitted one must be released once (release is idempotent). */
export class SessionLimits {
  readonly #cfg: SessionLimitsConfig;
  readonly #userConns = new Map<string, number>();
  readonly #addressConns = new Map<string, number>();
  readonly #userChannels = new Map<string, number>();

  constructor(cfg: SessionLimitsConfig) {
    this.#cfg = cfg;
  }

  /** A connection of `userId` (shown as `userName`) from `address` has authenticated: admit or refuse it. */
  openConnection(userId: string, userName: string, address: string): LimitVerdict {
    const source = sourceKey(address);
    const u = this.#userConns.get(userId) ?? 0;
    if (u >= this.#cfg.maxConnectionsPerUser) {
      return { ok: false, reason: 'connections_per_user', limit: this.#cfg.maxConnectionsPerUser, message: `Too many connections for ${userName}: at most ${this.#cfg.maxConnectionsPerUser} at a time. Close one of your connections and connect again.` };
    }
    const a = this.#addressConns.get(source) ?? 0;
    if (a >= this.#cfg.maxConnectionsPerAddress) {
      return { ok: false, reason: 'connections_per_address', limit: this.#cfg.maxConnectionsPerAddress, message: `Too many connections from ${address}: at most ${this.#cfg.maxConnectionsPerAddress} at a time from one address. Close one and connect again.` };
    }
    increment(this.#userConns, userId);
    increment(this.#addressConns, source);
    return { ok: true, release: once(() => {
      decrement(this.#userConns, userId);
      decrement(this.#addressConns, source);
    }) };
  }

  /** `userId` opens a channel (session or forward) on any of its connections. */
  openChannel(userId: string, userName: string): LimitVerdict {
    const n = this.#userChannels.get(userId) ?? 0;
    if (n >= this.#cfg.maxChannelsPerUser) {
      return { ok: false, reason: 'channels_per_user', limit: this.#cfg.maxChannelsPerUser, message: `Too many open channels for ${userName}: at most ${this.#cfg.maxChannelsPerUser} over all your connections. Close a session or tunnel and try again.` };
    }
    increment(this.#userChannels, userId);
    return { ok: true, release: once(() => decrement(this.#userChannels, userId)) };
  }

  /** Counters for tests and metrics. */
  stats(): { users: number; addresses: number; connections: number; channels: number } {
    let connections = 0;
    let channels = 0;
    for (const n of this.#userConns.values()) connections += n;
    for (const n of this.#userChannels.values()) channels += n;
    return { users: this.#userConns.size, addresses: this.#addressConns.size, connections, channels };
  }
}

function increment(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

function decrement(m: Map<string, number>, k: string): void {
  const n = m.get(k) ?? 0;
  if (n <= 1) m.delete(k);
  else m.set(k, n - 1);
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (!done) {
      done = true;
      fn();
    }
  };
}

/** One audit record's worth of refusals from one source. */
export interface RefusalSummary {
  /** The source (IPv4 address or IPv6 /64), or `*` for the sources past the tracking limit. */
  source: string;
  /** The address of the first refusal in this record. */
  address: string;
  /** Refusals in this record, by reason. */
  reasons: Record<string, number>;
  count: number;
  /** Start of the interval the record covers. */
  since: number;
  /** True for the immediate record of a source's first refusal in an interval. */
  first: boolean;
}

interface RefusalEntry {
  address: string;
  reasons: Record<string, number>;
  count: number;
  since: number;
}

/** Counts refusals per source and hands out at most two records per source and interval (see header). */
export class RefusalLog {
  readonly #intervalMs: number;
  readonly #maxSources: number;
  readonly #record: (summary: RefusalSummary) => void;
  /** Sources already recorded this interval, with what they did since. */
  #entries = new Map<string, RefusalEntry>();
  #overflow: RefusalEntry | null = null;
  #intervalStart: number;
  #total = 0;

  constructor(opts: { intervalMs: number; maxSources: number; now: number; record: (summary: RefusalSummary) => void }) {
    this.#intervalMs = opts.intervalMs;
    this.#maxSources = opts.maxSources;
    this.#record = opts.record;
    this.#intervalStart = opts.now;
  }

  /** Counts one refusal of `address` for `reason`. */
  note(address: string, reason: string, now: number): void {
    this.#total++;
    this.flush(now);
    const source = sourceKey(address);
    const entry = this.#entries.get(source);
    if (entry !== undefined) {
      entry.count++;
      entry.reasons[reason] = (entry.reasons[reason] ?? 0) + 1;
      return;
    }
    if (this.#entries.size >= this.#maxSources) {
      this.#overflow ??= { address, reasons: {}, count: 0, since: this.#intervalStart };
      this.#overflow.count++;
      this.#overflow.reasons[reason] = (this.#overflow.reasons[reason] ?? 0) + 1;
      return;
    }
    // First refusal of this source in the interval: on record at once, later ones summed up.
    this.#entries.set(source, { address, reasons: {}, count: 0, since: now });
    this.#record({ source, address, reasons: { [reason]: 1 }, count: 1, since: now, first: true });
  }

  /** Ends the interval if it is over: one summary per source that was refused again after its first record. */
  flush(now: number, force = false): void {
    if (!force && now - this.#intervalStart < this.#intervalMs) return;
    for (const [source, e] of this.#entries) {
      if (e.count > 0) this.#record({ source, address: e.address, reasons: e.reasons, count: e.count, since: e.since, first: false });
    }
    if (this.#overflow !== null) {
      const o = this.#overflow;
      this.#record({ source: '*', address: o.address, reasons: o.reasons, count: o.count, since: o.since, first: false });
    }
    this.#entries = new Map();
    this.#overflow = null;
    this.#intervalStart = now;
  }

  /** Refusals counted since start. */
  get total(): number {
    return this.#total;
  }
}
