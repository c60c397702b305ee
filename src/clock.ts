/**
 * Time as a dependency: every validity window, TOTP step, quota and lockout reads the clock through
 * this interface so that tests move time instead of sleeping.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

/** The real clock. */
export const systemClock: Clock = { now: () => Date.now() };

/** A clock that only moves when told to; for tests. */
export class ManualClock implements Clock {
  #ms: number;
  constructor(start: number = Date.now()) {
    this.#ms = start;
  }
  now(): number {
    return this.#ms;
  }
  /** Moves the clock forward by `ms` milliseconds. */
  advance(ms: number): void {
    this.#ms += ms;
  }
  /** Sets the clock to an absolute time. */
  set(ms: number): void {
    this.#ms = ms;
  }
}

/** A clock shifted by a fixed offset from another (e.g. `AIRLOCK_CLOCK_OFFSET` in tests). */
export function offsetClock(base: Clock, offsetMs: number): Clock {
  return { now: () => base.now() + offsetMs };
}
