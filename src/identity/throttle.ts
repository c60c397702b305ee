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

/** Throttling over the store: check before verifying credentials, then report the outcome. */
export class Throttle {
  readonly #repo: ThrottleRepository;
  readonly #policy: ThrottlePolicy;
  // Per-key queue of read-modify-write updates: the repository offers no atomic increment, and two
  // concurrent failures must not both read N and both write N+1. This covers one process; several
  // Airlock processes on one database could still lose a count in a race (a few extra guesses at most).
  readonly #queues = new Map<string, Promise<void>>();

  constructor(repo: ThrottleRepository, policy: ThrottlePolicy = DEFAULT_THROTTLE_POLICY) {
    this.#repo = repo;
    this.#policy = policy;
  }

  /** Throws AirlockError('throttled') naming the time to retry if any of the keys is locked at `now`. */
  async check(keys: readonly string[], now: number): Promise<void> {
    let retryAt = 0;
    for (const key of keys) {
      const state = await this.#repo.get(key);
      if (state && isThrottled(state, now)) retryAt = Math.max(retryAt, state.lockedUntil);
    }
    if (retryAt > 0) {
      const iso = new Date(retryAt).toISOString();
      throw new AirlockError('throttled', `Too many failed sign-ins. Try again after ${iso}.`, { details: { retryAt: iso } });
    }
  }

  /** Records one failed attempt against each key. */
  async fail(keys: readonly string[], now: number): Promise<void> {
    await Promise.all(
      keys.map((key) =>
        this.#serialised(key, async () => {
          const prev = (await this.#repo.get(key)) ?? freshThrottleState(key);
          await this.#repo.put(nextThrottleState(prev, now, this.#policy));
        }),
      ),
    );
  }

  /**
   * Forgets the failures of a user after a successful sign-in. Only the user key: the address key
   * stays, or an attacker could reset their address's counter between guesses at other accounts by
   * signing in to an account of their own from the same address.
   */
  async succeed(userKey: string): Promise<void> {
    await this.#serialised(userKey, () => this.#repo.clear(userKey));
  }

  async #serialised(key: string, task: () => Promise<void>): Promise<void> {
    const previous = this.#queues.get(key) ?? Promise.resolve();
    const run = previous.then(task, task);
    const tail = run.catch(() => undefined);
    this.#queues.set(key, tail);
    try {
      await run;
    } finally {
      if (this.#queues.get(key) === tail) this.#queues.delete(key);
    }
  }
}
