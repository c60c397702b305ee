/**
 * Limits on starting browser-login requests (SSH keyboard-interactive and `airlock login --browser`).
 * Starting one needs no credentials and writes a database row, so without a limit anyone can fill the
 * table (issue 10, item 6). Counted per client address (IPv6 per /64, as the sign-in throttle does) and
 * in total, in fixed one-minute windows, in this process: each replica enforces its own share. Memory is
 * bounded by the total limit (an address only gets an entry by starting a request in the window).
 */
import { AirlockError } from '../errors.ts';
import { addressThrottleKey } from './throttle.ts';

/** Starts allowed per minute. */
export interface StartLimitPolicy {
  perAddress: number;
  total: number;
}

/** 10 per address and 600 in total per minute. */
export const DEFAULT_START_LIMITS: Readonly<StartLimitPolicy> = Object.freeze({ perAddress: 10, total: 600 });

const WINDOW_MS = 60_000;

/** Fixed-window counters of browser-login starts. */
export class StartLimiter {
  readonly #policy: StartLimitPolicy;
  #windowStart = -Infinity;
  #total = 0;
  readonly #perAddress = new Map<string, number>();

  constructor(policy: StartLimitPolicy = DEFAULT_START_LIMITS) {
    this.#policy = policy;
  }

  /** Counts one start at `now`, or throws AirlockError('throttled') naming when to try again. */
  take(clientAddress: string | null, now: number): void {
    if (now >= this.#windowStart + WINDOW_MS || now < this.#windowStart) {
      this.#windowStart = now;
      this.#total = 0;
      this.#perAddress.clear();
    }
    const retryAt = new Date(this.#windowStart + WINDOW_MS).toISOString();
    const key = clientAddress === null ? null : addressThrottleKey(clientAddress);
    const used = key === null ? 0 : (this.#perAddress.get(key) ?? 0);
    if (key !== null && used >= this.#policy.perAddress) {
      throw new AirlockError('throttled', `Too many logins were started from your address; try again after ${retryAt}.`, { details: { retryAt, limit: 'per_address' } });
    }
    if (this.#total >= this.#policy.total) {
      throw new AirlockError('throttled', `Too many logins are being started right now; try again after ${retryAt}.`, { details: { retryAt, limit: 'total' } });
    }
    this.#total++;
    if (key !== null) this.#perAddress.set(key, used + 1);
  }
}
