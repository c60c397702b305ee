/**
 * TOTP codes for tests that sign one user in several times. A code is accepted once per time step
 * (RFC 6238 §5.2: Airlock records each used step), and the verifier accepts one step either side of
 * its clock for skew, so up to three unused codes are valid at any moment. Handing out those, instead
 * of sleeping until the next 30-second step, keeps such tests from waiting on the wall clock.
 */
import { currentTotp, TOTP_PERIOD_SECONDS } from '../../src/identity/totp.ts';

const PERIOD_MS = TOTP_PERIOD_SECONDS * 1000;
/** The previous step's code is handed out only while this much of the current step is left. */
const MIN_VALIDITY_MS = 15_000;

/** Unused TOTP codes at the server's clock `now`, per secret. */
export class TotpCodes {
  readonly #now: () => number;
  readonly #used = new Map<string, Set<number>>();

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /**
   * A code for a step not handed out before for this account (by default: for this secret): the next
   * step's (valid for the longest), then the current one's, then the previous one's; only when all three
   * were used, the next step's after waiting for the step to change (bounded: one step). The server
   * records used steps per account, so pass `account` when an account's secret changes (re-enrolment).
   */
  async next(secret: string, account: string = secret): Promise<string> {
    const used = this.#used.get(account) ?? new Set<number>();
    this.#used.set(account, used);
    for (let round = 0; round < 2; round++) {
      const now = this.#now();
      const step = Math.floor(now / PERIOD_MS);
      const left = PERIOD_MS - (now % PERIOD_MS);
      const candidates = left >= MIN_VALIDITY_MS ? [step + 1, step, step - 1] : [step + 1, step];
      const free = candidates.find((s) => !used.has(s));
      if (free !== undefined) {
        used.add(free);
        return currentTotp(secret, free * PERIOD_MS);
      }
      await new Promise((r) => setTimeout(r, left + 50));
    }
    throw new Error('no unused TOTP step after waiting for one');
  }
}
