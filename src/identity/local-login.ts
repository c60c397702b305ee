/**
 * Sign-in with a local account: user name, password and a second factor (a TOTP code or a recovery
 * code), all presented in one request so that every factor is checked against the same user
 * (security checklist item 7). Every attempt is throttled (item 3), answered identically whatever
 * went wrong (item 8), audited with its true reason, and denied if anything fails (item 15).
 */
import type { Clock } from '../clock.ts';
import { AirlockError, isAirlockError } from '../errors.ts';
import type { AuditEvent, Store, User } from '../store/repositories.ts';
import { dummyVerify, verifyPassword } from './password.ts';
import { consumeRecoveryCode, looksLikeRecoveryCode } from './recovery.ts';
import { DEFAULT_THROTTLE_POLICY, Throttle, addressThrottleKey, userThrottleKey, type ThrottleCharge, type ThrottlePolicy } from './throttle.ts';
import { looksLikeTotp, verifyTotp } from './totp.ts';

// Enrolment is its own module; re-exported here because it is the other half of local accounts.
export { checkUserName, enrolUser, type Enrolment, type EnrolmentInput } from './enrolment.ts';

/** The audit event type of a password + second-factor sign-in. */
export const LOCAL_LOGIN_EVENT = 'auth.password_totp';

/** How the second factor was proven; the CA records it in the certificate log. */
export type LocalSignInMethod = 'password+totp' | 'recovery';

/** Why an attempt did not succeed, as audited (never shown to the person signing in). */
export type LocalLoginFailure =
  | 'throttled'
  | 'unknown_user'
  | 'wrong_password'
  | 'disabled'
  | 'totp_not_enrolled'
  | 'wrong_totp'
  | 'totp_replayed'
  | 'wrong_recovery_code'
  | 'malformed_second_factor'
  | 'internal';

/** What a sign-in presents. */
export interface LocalLoginInput {
  name: string;
  password: string;
  /** A 6-digit TOTP code or a recovery code. */
  otp: string;
  /** The client's address (the socket's peer, or what a trusted proxy forwarded: src/http/forwarded.ts); null when there is none. */
  clientAddress: string | null;
}

/** Construction options of LocalLogin. */
export interface LocalLoginOptions {
  store: Store;
  clock: Clock;
  /** Where audit events go; defaults to the store's audit log. */
  audit?: (event: AuditEvent) => Promise<void>;
  throttlePolicy?: ThrottlePolicy;
  /** TOTP steps accepted either side of now for clock skew (RFC 6238 §5.2: keep it at 1). */
  totpWindow?: number;
}

// One answer for every credential problem, so a caller learns nothing about which part was wrong
// or whether the account exists (checklist item 8).
const GENERIC_MESSAGE = 'Wrong user name, password or one-time code.';
const UNAVAILABLE_MESSAGE = 'Sign-in is temporarily unavailable.';
// Audit rows keep what was asked for, but a megabyte "name" must not become a megabyte row.
const MAX_AUDITED_NAME = 128;

/** A credential failure whose audit record has already been written. */
class Refusal extends Error {
  readonly reason: LocalLoginFailure;
  constructor(reason: LocalLoginFailure) {
    super(reason);
    this.reason = reason;
  }
}

/** The password + TOTP/recovery-code sign-in flow for local accounts. */
export class LocalLogin {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #audit: (event: AuditEvent) => Promise<void>;
  readonly #throttle: Throttle;
  readonly #totpWindow: number;

  constructor(options: LocalLoginOptions) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#audit = options.audit ?? ((event) => options.store.audit.append(event));
    this.#throttle = new Throttle(options.store.throttle, options.throttlePolicy ?? DEFAULT_THROTTLE_POLICY);
    this.#totpWindow = options.totpWindow ?? 1;
  }

  /** Signs in and returns the user; throws AirlockError 'unauthenticated', 'throttled' or 'unavailable'. */
  async authenticate(input: LocalLoginInput): Promise<User> {
    return (await this.signIn(input)).user;
  }

  /** Like authenticate, and also says which second factor was used. */
  async signIn(input: LocalLoginInput): Promise<{ user: User; method: LocalSignInMethod }> {
    // No lock per user name or address is needed here: the throttle checks and counts each attempt in
    // one atomic step (Throttle.begin), so parallel attempts — under one name or many names from one
    // address, on one replica or several — cannot all slip past the check.
    return this.#attempt(input);
  }

  async #attempt(input: LocalLoginInput): Promise<{ user: User; method: LocalSignInMethod }> {
    const now = this.#clock.now();
    const userKey = userThrottleKey(input.name);
    const keys = input.clientAddress === null ? [userKey] : [userKey, addressThrottleKey(input.clientAddress)];
    const event = (outcome: AuditEvent['outcome'], details: Record<string, unknown>): AuditEvent => ({
      at: now,
      type: LOCAL_LOGIN_EVENT,
      outcome,
      actor: input.name.slice(0, MAX_AUDITED_NAME),
      clientAddress: input.clientAddress,
      details,
    });
    // Audits a credential failure and ends the attempt (already counted against the throttle by begin()).
    const refuse = async (reason: LocalLoginFailure, outcome: 'failure' | 'denied' = 'failure'): Promise<never> => {
      await this.#audit(event(outcome, { reason }));
      throw new Refusal(reason);
    };

    try {
      let charge: ThrottleCharge;
      try {
        // Counted as a failure up front; given back below if the attempt succeeds. An attempt that
        // ends in an internal error keeps its charge: failing closed.
        charge = await this.#throttle.begin(keys, now);
      } catch (err) {
        if (!isAirlockError(err, 'throttled')) throw err;
        // Refused without looking at the credentials (so a correct password does not get through
        // a lock either), and without counting as a further failure: otherwise anyone could keep
        // a victim locked out forever just by trying.
        await this.#audit(event('denied', { reason: 'throttled', retryAt: err.details?.retryAt }));
        throw err;
      }

      const user = await this.#store.users.byName(input.name);
      if (user === undefined) {
        // Same KDF work as a real verification: the response time must not reveal which names exist.
        await dummyVerify(input.password);
        return await refuse('unknown_user');
      }
      if (!(await verifyPassword(input.password, user.passwordHash))) return await refuse('wrong_password');
      // Checked only after the password so that disabled and active accounts take equally long.
      if (user.disabled) return await refuse('disabled', 'denied');
      // TOTP is mandatory for local accounts: a password alone never signs in.
      if (user.totpSecret === null) return await refuse('totp_not_enrolled', 'denied');

      let method: LocalSignInMethod;
      if (looksLikeTotp(input.otp)) {
        const step = verifyTotp(user.totpSecret, input.otp, now, this.#totpWindow);
        if (step === null) return await refuse('wrong_totp');
        // RFC 6238 §5.2: a code is accepted once. The store's primary key makes this atomic, so
        // two concurrent requests (or two replicas) cannot both use one code.
        if (!(await this.#store.totpReplay.markUsed(user.id, step, now))) return await refuse('totp_replayed');
        method = 'password+totp';
      } else if (looksLikeRecoveryCode(input.otp)) {
        if (!(await consumeRecoveryCode(this.#store.recoveryCodes, user.id, input.otp, now))) return await refuse('wrong_recovery_code');
        method = 'recovery';
      } else {
        return await refuse('malformed_second_factor');
      }

      await this.#throttle.succeed(userKey, charge);
      const details: Record<string, unknown> = { reason: 'ok', method };
      if (method === 'recovery') details.recoveryCodesLeft = await this.#store.recoveryCodes.remaining(user.id);
      await this.#audit(event('success', details));
      return { user, method };
    } catch (err) {
      if (err instanceof Refusal) throw new AirlockError('unauthenticated', GENERIC_MESSAGE);
      if (isAirlockError(err, 'throttled')) throw err;
      // Anything else (the store went away, a corrupt row, the audit log refused a write) denies:
      // an authentication path that ignores an error is how sign-in checks get skipped.
      try {
        await this.#audit(event('failure', { reason: 'internal' }));
      } catch {
        // The audit log is likely what failed; the denial below stands regardless.
      }
      throw new AirlockError('unavailable', UNAVAILABLE_MESSAGE, { cause: err });
    }
  }
}
