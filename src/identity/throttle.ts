/**
 * Brute-force throttling (security checklist item 3): failures are counted per user name and per
 * client address; after `maxFailures` within `windowMs` the key is locked, for a time that doubles
 * with each further failure up to `maxLockMs`. A locked key refuses every attempt, including one
 * with the right credentials — otherwise the lock would only slow guessing, not stop it.
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { AirlockError } from '../errors.ts';
import type { ThrottleRepository, ThrottleState } from '../store/repositories.ts';

/** The numbers that shape throttling. */
export interface ThrottlePolicy {
  /** Failures within the window that trigger the first lock. */
  maxFailures: number;
  /** How long failures are remembered: from the first failure, or from the end of the last lock. */
  windowMs: number;
  /** The first lock's duration; each further failure doubles it. */
  baseLockMs: number;
  /** The longest lock. */
  maxLockMs: number;
}

/** 5 failures in 15 minutes lock for 1 minute, doubling per further failure up to 1 hour. */
export const DEFAULT_THROTTLE_POLICY: Readonly<ThrottlePolicy> = Object.freeze({
  maxFailures: 5,
  windowMs: 15 * 60_000,
  baseLockMs: 60_000,
  maxLockMs: 60 * 60_000,
});

const MAX_KEY_NAME = 128;

/** The throttle key of a user name (long names are hashed to bound the key's size). */
export function userThrottleKey(name: string): string {
  // Case-folded so that "Alice" and "alice" share one counter whatever the store's collation.
  const folded = name.toLowerCase();
  // A caller may present any string as a name; an absurdly long one must not become a huge row.
  return folded.length <= MAX_KEY_NAME ? `user:${folded}` : `user:sha256:${createHash('sha256').update(folded).digest('hex')}`;
}

/**
 * The throttle key of a client address. IPv4-mapped IPv6 is reduced to IPv4 and IPv6 to its /64:
 * one subscriber usually holds a whole /64, so per-address counting of IPv6 would be trivially
 * sidestepped by rotating the interface identifier.
 */
export function addressThrottleKey(address: string): string {
  const noZone = address.replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(noZone);
  if (mapped && isIP(mapped[1]!) === 4) return `addr:${mapped[1]}`;
  if (isIP(noZone) === 4) return `addr:${noZone}`;
  if (isIP(noZone) === 6) {
    const groups = expandIpv6(noZone);
    if (groups) return `addr:${groups.slice(0, 4).join(':')}::/64`;
  }
  // Not an IP literal (e.g. a unix socket peer): count it verbatim, bounded.
  return `addr:${address.slice(0, MAX_KEY_NAME)}`;
}

function expandIpv6(address: string): string[] | undefined {
  let text = address.toLowerCase();
  // An embedded IPv4 tail (::ffff:a.b.c.d, ::a.b.c.d) becomes two hex groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = text.slice(0, v4.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  return groups.map((g) => Number.parseInt(g, 16).toString(16));
}

/** A state with no failures, for a key never seen. */
export function freshThrottleState(key: string): ThrottleState {
  return { key, failures: 0, firstFailureAt: 0, lockedUntil: 0 };
}

/** Whether the state refuses attempts at `now`. */
export function isThrottled(state: ThrottleState | undefined, now: number): boolean {
  return state !== undefined && state.lockedUntil > now;
}

/** The state after one more failure at `now` (pure). */
export function nextThrottleState(prev: ThrottleState, now: number, policy: ThrottlePolicy = DEFAULT_THROTTLE_POLICY): ThrottleState {
  // Failures are forgotten once the window has passed since the streak began or, if it led to a
  // lock, since that lock ended: so a lock is followed by a full window in which one more failure
  // locks again, for twice as long, instead of a fresh allowance of `maxFailures` guesses.
  const quietSince = Math.max(prev.firstFailureAt, prev.lockedUntil);
  const forgotten = prev.failures <= 0 || now >= quietSince + policy.windowMs;
  const failures = forgotten ? 1 : prev.failures + 1;
  const firstFailureAt = forgotten ? now : prev.firstFailureAt;
  let lockedUntil = forgotten ? 0 : prev.lockedUntil;
  if (failures >= policy.maxFailures) {
    const doublings = Math.min(failures - policy.maxFailures, 40); // 2^40 minutes exceeds any cap
    lockedUntil = now + Math.min(policy.baseLockMs * 2 ** doublings, policy.maxLockMs);
  }
  return { key: prev.key, failures, firstFailureAt, lockedUntil };
}

/** What one attempt charged against its keys, to give back if it succeeds (see Throttle.begin). */
export interface ThrottleCharge {
  entries: { key: string; before: ThrottleState | undefined; after: ThrottleState }[];
}

/**
 * The state after an attempt that was charged as a failure turned out to succeed (pure): if nobody
 * touched the key since, exactly the state before the charge (null: no row); otherwise one failure
 * less, keeping any lock others' failures set.
 */
export function refundThrottleState(current: ThrottleState | undefined, charged: { before: ThrottleState | undefined; after: ThrottleState }): ThrottleState | null {
  if (current === undefined) return null;
  const a = charged.after;
  if (current.failures === a.failures && current.firstFailureAt === a.firstFailureAt && current.lockedUntil === a.lockedUntil) return charged.before ?? null;
  return { ...current, failures: Math.max(0, current.failures - 1) };
}

function throttledError(retryAt: number): AirlockError {
  const iso = new Date(retryAt).toISOString();
  return new AirlockError('throttled', `Too many failed sign-ins. Try again after ${iso}.`, { details: { retryAt: iso } });
}

/**
 * Throttling over the store. An attempt is counted as a failure *before* its credentials are checked,
 * in the same atomic step that checks the lock (`begin`), and given back if it succeeds (`succeed`).
 * Checking first and counting after the slow password hash would let a burst of parallel attempts —
 * under one name, or under many names from one address — all pass the check before the first failure
 * is written; this way the Nth attempt in a window sees the N-1 before it, in this process and in
 * every other replica on the same database.
 */
export class Throttle {
  readonly #repo: ThrottleRepository;
  readonly #policy: ThrottlePolicy;

  constructor(repo: ThrottleRepository, policy: ThrottlePolicy = DEFAULT_THROTTLE_POLICY) {
    this.#repo = repo;
    this.#policy = policy;
  }

  /** Throws AirlockError('throttled') naming the time to retry if any of the keys is locked at `now` (read only). */
  async check(keys: readonly string[], now: number): Promise<void> {
    let retryAt = 0;
    for (const key of keys) {
      const state = await this.#repo.get(key);
      if (state && isThrottled(state, now)) retryAt = Math.max(retryAt, state.lockedUntil);
    }
    if (retryAt > 0) throw throttledError(retryAt);
  }

  /**
   * Atomically: if any key is locked at `now`, throws AirlockError('throttled') and counts nothing (so
   * that trying during a lock does not prolong it); otherwise counts one failure against every key and
   * returns the charge, which `succeed` gives back.
   */
  async begin(keys: readonly string[], now: number): Promise<ThrottleCharge> {
    let retryAt = 0;
    let charge: ThrottleCharge = { entries: [] };
    await this.#repo.update(keys, (states) => {
      retryAt = Math.max(0, ...states.map((st) => (st && isThrottled(st, now) ? st.lockedUntil : 0)));
      if (retryAt > 0) return null;
      const after = states.map((st, i) => nextThrottleState(st ?? freshThrottleState(keys[i]!), now, this.#policy));
      charge = { entries: keys.map((key, i) => ({ key, before: states[i], after: after[i]! })) };
      return after;
    });
    if (retryAt > 0) throw throttledError(retryAt);
    return charge;
  }

  /** Records one failed attempt against each key (for attempts not charged through `begin`). */
  async fail(keys: readonly string[], now: number): Promise<void> {
    await this.#repo.update(keys, (states) => states.map((st, i) => nextThrottleState(st ?? freshThrottleState(keys[i]!), now, this.#policy)));
  }

  /**
   * After a successful sign-in: forgets the failures of the user, and gives the attempt's charge back
   * on the other keys. The address key is only given back, never cleared, or an attacker could reset
   * their address's counter between guesses at other accounts by signing in to an account of their own.
   */
  async succeed(userKey: string, charge: ThrottleCharge = { entries: [] }): Promise<void> {
    const others = charge.entries.filter((e) => e.key !== userKey);
    await this.#repo.update([userKey, ...others.map((e) => e.key)], (states) => [null, ...others.map((e, i) => refundThrottleState(states[i + 1], e))]);
  }
}
