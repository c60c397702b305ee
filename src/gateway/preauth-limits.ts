/**
 * Pre-authentication limits (checklist 2), which ssh2 does not have: caps on concurrent
 * unauthenticated connections per source and in total (OpenSSH MaxStartups and PerSourceMaxStartups,
 * refusing outright instead of random early drop), and penalties for sources that fail to
 * authenticate (OpenSSH 9.8 PerSourcePenalties: authfail 5 s, noauth 1 s, grace-exceeded 10 s; once a
 * source's accumulated penalty reaches 15 s it is refused until the penalty runs out, at most the maximum). Sources are IPv4
 * addresses and IPv6 /64 networks, since one IPv6 host usually owns a whole /64. Pure bookkeeping
 * over an injected time; memory is bounded.
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
}

export type Admission =
  | { ok: true; source: string }
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

/** Bookkeeping of unauthenticated connections and penalties. */
export class PreAuthLimiter {
  readonly #cfg: PreAuthLimitsConfig;
  readonly #perSource = new Map<string, number>();
  /** Source → when its penalty runs out, and whether it has reached the refusal threshold. */
  readonly #penalties = new Map<string, { until: number; active: boolean }>();
  #total = 0;
  #refused = 0;

  constructor(cfg: PreAuthLimitsConfig) {
    this.#cfg = cfg;
  }

  /** Admits a new connection from `address` at `now`, or says why not. An admitted one must be released once. */
  admit(address: string, now: number): Admission {
    const source = sourceKey(address);
    const p = this.#penalties.get(source);
    if (p !== undefined) {
      if (p.until <= now) this.#penalties.delete(source);
      else if (p.active) {
        this.#refused++;
        return { ok: false, reason: 'penalty', source, retryAfterMs: p.until - now };
      }
    }
    if (this.#total >= this.#cfg.maxTotal) {
      this.#refused++;
      return { ok: false, reason: 'total', source };
    }
    const n = this.#perSource.get(source) ?? 0;
    if (n >= this.#cfg.maxPerSource) {
      this.#refused++;
      return { ok: false, reason: 'per_source', source };
    }
    this.#perSource.set(source, n + 1);
    this.#total++;
    return { ok: true, source };
  }

  /** Releases an admitted connection (it authenticated, or closed). */
  release(source: string): void {
    const n = this.#perSource.get(source);
    if (n === undefined) return;
    if (n <= 1) this.#perSource.delete(source);
    else this.#perSource.set(source, n - 1);
    this.#total--;
  }

  /**
   * Adds a penalty to the source of `address`. Returns true when this makes the source refused (the
   * moment worth an audit record), false otherwise.
   */
  penalise(address: string, kind: PenaltyKind, now: number): boolean {
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
    const until = Math.min(base + PENALTY_MS[kind], now + this.#cfg.penaltyMaxMs);
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
  stats(): { unauthenticated: number; sources: number; penalised: number; refused: number } {
    return { unauthenticated: this.#total, sources: this.#perSource.size, penalised: this.#penalties.size, refused: this.#refused };
  }
}
