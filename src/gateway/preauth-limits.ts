/**
 * Pre-authentication limits (checklist 2), which ssh2 does not have: caps on concurrent
 * unauthenticated connections per source and in total, and penalties for sources that fail to
 * authenticate. Sources are IPv4 addresses and IPv6 /64 networks, since one IPv6 host usually owns a
 * whole /64. Pure bookkeeping over an injected time; memory is bounded.
 *
 * The attack this must survive (issue 10, item 2): 100 sockets from 10 addresses that each close just
 * before the grace time and reconnect at once. Fixed-size penalties per closed connection lose to it
 * (10 × 1 s per 29 s decays faster than it accumulates), and a full table refuses everyone else. How
 * OpenSSH answers it, and what is done here:
 *  - MaxStartups `start:rate:full` drops new connections at random once `start` are unauthenticated, so
 *    a legitimate client gets in with some probability, never with certainty. Here, instead, a full
 *    table is shared fairly: a newcomer from a source holding fewer slots than the heaviest source
 *    takes the oldest slot of that source (the connection that has idled unauthenticated longest, the
 *    one most likely to be an attacker's). A legitimate user from any address the attacker does not
 *    own always gets a slot while one source holds two or more; an attacker needs as many addresses as
 *    slots to lock the table, and then the per-source penalties below apply to every one of them.
 *  - PerSourceMaxStartups: at most `maxPerSource` unauthenticated connections per source.
 *  - PerSourcePenalties (OpenSSH 9.8: authfail 5 s, noauth 1 s, grace-exceeded 10 s, `min` 15 s): a
 *    source is refused once its accumulated penalty reaches 15 s, until the penalty runs out (at most
 *    `penaltyMaxMs`). On top of OpenSSH's fixed amounts, every connection that ends unauthenticated also
 *    adds the time it held its slot (up to the grace time): a slot held for 29 s costs 30 s, so holding
 *    slots is paid for in the currency the attacker takes from everyone else, and ten slots recycled
 *    before the grace time put the source out for minutes after one round. A legitimate client that
 *    fails once in a second earns about what OpenSSH would give it; time a real account spends signing
 *    in in the browser is not charged (gateway.ts; the grace time is stretched for real accounts only).
 */
import { cidrListContains, parseIp, type Cidr } from '../ssh/cidr.ts';

/** Why a connection is closed before authentication; the penalty it earns. */
export type PenaltyKind = 'authfail' | 'noauth' | 'grace';

const PENALTY_MS: Record<PenaltyKind, number> = { authfail: 5_000, noauth: 1_000, grace: 10_000 };
/** A source is refused while its penalty runs at least this long into the future (OpenSSH penalty min). */
const PENALTY_ACTIVE_MS = 15_000;
/** Penalty entries kept at most (OpenSSH max-sources); beyond it new sources are not tracked (permissive). */
const MAX_PENALTY_SOURCES = 65_536;

export interface PreAuthLimitsConfig {
  maxPerSource: number;
  maxTotal: number;
  penalties: boolean;
  penaltyMaxMs: number;
  /** Sources never penalised (load-balancer health checks, monitoring). */
  exempt: readonly Cidr[];
  /** Time held unauthenticated counts into the penalty up to this much (the login grace time); 0 = not at all. */
  heldCapMs?: number;
}

export type Admission<H = unknown> =
  /** Admitted; `preempted` is a holder whose slot was handed over, which the caller must now close. */
  | { ok: true; source: string; preempted?: H }
  | { ok: false; reason: 'total' | 'per_source' | 'penalty'; source: string; retryAfterMs?: number };

/** The source key of an address: the address for IPv4, its /64 for IPv6. */
export function sourceKey(address: string): string {
  let ip;
  try {
    ip = parseIp(address);
  } catch {
    return `?${address.slice(0, 64)}`;
  }
  if (ip.family === 4) return ip.bytes.join('.');
  return `${ip.bytes.subarray(0, 8).toString('hex')}::/64`;
}

/** Bookkeeping of unauthenticated connections (held by `H`, e.g. a connection) and penalties. */
export class PreAuthLimiter<H = unknown> {
  readonly #cfg: PreAuthLimitsConfig;
  /** Source → its holders, oldest first (a Set keeps insertion order). */
  readonly #perSource = new Map<string, Set<H>>();
  /** Sources by how many slots they hold, so that the heaviest is found in O(1) under a flood. */
  readonly #bySize = new Map<number, Set<string>>();
  #heaviest = 0;
  /** Source → when its penalty runs out, and whether it has reached the refusal threshold. */
  readonly #penalties = new Map<string, { until: number; active: boolean }>();
  #total = 0;
  #refused = 0;
  #preempted = 0;

  constructor(cfg: PreAuthLimitsConfig) {
    this.#cfg = cfg;
  }

  /**
   * Admits a new connection from `address` at `now`, or says why not. An admitted holder must be
   * released once (not a preempted one: its slot is already gone). Without a holder, a fresh token is used.
   */
  admit(address: string, now: number, holder: H = {} as H): Admission<H> {
    const source = sourceKey(address);
    const p = this.#penalties.get(source);
    if (p !== undefined) {
      if (p.until <= now) this.#penalties.delete(source);
      else if (p.active) {
        this.#refused++;
        return { ok: false, reason: 'penalty', source, retryAfterMs: p.until - now };
      }
    }
    const held = this.#perSource.get(source)?.size ?? 0;
    if (held >= this.#cfg.maxPerSource) {
      this.#refused++;
      return { ok: false, reason: 'per_source', source };
    }
    let preempted: H | undefined;
    if (this.#total >= this.#cfg.maxTotal) {
      // Fair share (see the header): take the oldest slot of the heaviest source if that source still
      // holds at least as many as this one afterwards; otherwise the table is fairly shared and full.
      const victim = this.#heaviest > held + 1 ? this.#bySize.get(this.#heaviest)?.values().next().value : undefined;
      const holders = victim === undefined ? undefined : this.#perSource.get(victim);
      const oldest = holders?.values().next();
      if (victim === undefined || oldest === undefined || oldest.done === true) {
        this.#refused++;
        return { ok: false, reason: 'total', source };
      }
      preempted = oldest.value;
      this.#remove(victim, preempted);
      this.#preempted++;
    }
    this.#add(source, holder);
    return preempted === undefined ? { ok: true, source } : { ok: true, source, preempted };
  }

  /** Releases an admitted connection (it authenticated, or closed); without a holder, the source's oldest. */
  release(source: string, holder?: H): void {
    const set = this.#perSource.get(source);
    if (set === undefined) return;
    const h = holder === undefined ? set.values().next().value : holder;
    if (h === undefined || !set.has(h)) return;
    this.#remove(source, h);
  }

  #add(source: string, holder: H): void {
    let set = this.#perSource.get(source);
    if (set === undefined) {
      set = new Set();
      this.#perSource.set(source, set);
    }
    const before = set.size;
    set.add(holder);
    if (set.size === before) return;
    this.#total++;
    this.#resize(source, before, set.size);
  }

  #remove(source: string, holder: H): void {
    const set = this.#perSource.get(source);
    if (set === undefined || !set.delete(holder)) return;
    this.#total--;
    this.#resize(source, set.size + 1, set.size);
    if (set.size === 0) this.#perSource.delete(source);
  }

  #resize(source: string, from: number, to: number): void {
    if (from > 0) {
      const b = this.#bySize.get(from)!;
      b.delete(source);
      if (b.size === 0) this.#bySize.delete(from);
    }
    if (to > 0) {
      let b = this.#bySize.get(to);
      if (b === undefined) {
        b = new Set();
        this.#bySize.set(to, b);
      }
      b.add(source);
    }
    if (to > this.#heaviest) this.#heaviest = to;
    // Sizes change by one at a time, so the heaviest drops by at most one.
    else if (from === this.#heaviest && !this.#bySize.has(from)) this.#heaviest = this.#bySize.has(to) ? to : 0;
  }

  /**
   * Adds a penalty to the source of `address`: the fixed amount for `kind`, plus `heldMs` (the time the
   * connection held its slot unauthenticated, capped). Returns true when this makes the source refused
   * (the moment worth an audit record), false otherwise.
   */
  penalise(address: string, kind: PenaltyKind, now: number, heldMs = 0): boolean {
    if (!this.#cfg.penalties) return false;
    try {
      if (this.#cfg.exempt.length > 0 && cidrListContains(this.#cfg.exempt as Cidr[], address)) return false;
    } catch {
      // Not an IP address: cannot be exempt.
    }
    const source = sourceKey(address);
    let p = this.#penalties.get(source);
    if (p !== undefined && p.until <= now) {
      this.#penalties.delete(source);
      p = undefined;
    }
    if (p === undefined && this.#penalties.size >= MAX_PENALTY_SOURCES) {
      this.#sweep(now);
      if (this.#penalties.size >= MAX_PENALTY_SOURCES) return false;
    }
    const base = p === undefined ? now : p.until;
    const held = Math.min(Math.max(0, heldMs), this.#cfg.heldCapMs ?? 0);
    const until = Math.min(base + PENALTY_MS[kind] + held, now + this.#cfg.penaltyMaxMs);
    const wasActive = p?.active === true;
    const active = wasActive || until - now >= this.#activeMs;
    this.#penalties.set(source, { until, active });
    return active && !wasActive;
  }

  /** A penalty this far ahead refuses the source; never more than the configured maximum. */
  get #activeMs(): number {
    return Math.min(PENALTY_ACTIVE_MS, this.#cfg.penaltyMaxMs);
  }

  #sweep(now: number): void {
    for (const [k, p] of this.#penalties) if (p.until <= now) this.#penalties.delete(k);
  }

  /** Counters for tests and metrics. */
  stats(): { unauthenticated: number; sources: number; penalised: number; refused: number; preempted: number } {
    return { unauthenticated: this.#total, sources: this.#perSource.size, penalised: this.#penalties.size, refused: this.#refused, preempted: this.#preempted };
  }
}
