/**
 * Browser login requests: an SSH connection (keyboard-interactive) or `airlock login --browser` asks
 * for one, shows its link and short code, and waits; the person signs in on the web pages and approves
 * it. A request is bound to the one connection or device flow that started it (only that caller holds
 * its id or polling secret), to the user name it asked for (only that user may approve), is valid for a
 * few minutes, and is approved once and consumed once (checklist item 7; Warpgate GHSA-c94j-vqr5-3mxr).
 * All state is in the database: the waiter reads it when woken by a decision (decision-feed.ts: an
 * in-process event, and PostgreSQL LISTEN/NOTIFY across replicas) and polls it as the fallback, so an
 * approval handled by any replica releases it.
 */
import { createHash, randomBytes, randomInt, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Auditor } from '../audit/auditor.ts';
import type { Clock } from '../clock.ts';
import { AirlockError } from '../errors.ts';
import type { BrowserLoginKind, BrowserLoginRecord, Store, User } from '../store/repositories.ts';
import { DEFAULT_START_LIMITS, StartLimiter, type StartLimitPolicy } from './start-limits.ts';
import { DecisionFeed, type Wakeup } from './decision-feed.ts';

/** How long a request can be approved: long enough to sign in at an identity provider, short enough to be useless later. */
export const DEFAULT_BROWSER_LOGIN_TTL_MS = 5 * 60_000;
/**
 * How often a waiter reads the database when no wake-up comes (bounded load: one indexed read per
 * waiter per interval). Decisions normally wake it at once (decision-feed.ts); this is the fallback.
 */
export const DEFAULT_BROWSER_LOGIN_POLL_MS = 500;
/** The audit event type of an approval decision. */
export const APPROVAL_EVENT = 'auth.browser_approval';

// Crockford-like alphabet without 0/O, 1/I/L and U: codes are read off a terminal and compared by eye.
const CODE_ALPHABET = 'ABCDEFGHJKMNPQRSTVWXYZ23456789';
const CODE_LENGTH = 8;
const SECRET = /^[A-Za-z0-9_-]{43}$/;

/** SHA-256 hex of a request secret; the database holds only these (checklist item 14). */
export function hashLoginSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** A fresh 256-bit secret, base64url. */
function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** A short code like `K7PX-M3QD` (8 symbols of 30: ~39 bits). */
export function newUserCode(): string {
  let s = '';
  for (let i = 0; i < CODE_LENGTH; i++) s += CODE_ALPHABET[randomInt(CODE_ALPHABET.length)]!;
  return `${s.slice(0, 4)}-${s.slice(4)}`;
}

/** A code as a person may type it: case, spaces and dashes ignored. */
export function normaliseUserCode(code: string): string {
  return code.toUpperCase().replace(/[\s-]/g, '');
}

function sameCode(a: string, b: string): boolean {
  const x = Buffer.from(normaliseUserCode(a));
  const y = Buffer.from(normaliseUserCode(b));
  return x.length === y.length && timingSafeEqual(x, y);
}

/** What the starter of a request gets back (shown once; only the hashes are stored). */
export interface StartedLogin {
  id: string;
  /** The approval page; carries the secret. */
  url: string;
  userCode: string;
  expiresAt: number;
  /** For device flows: the secret the client polls with (never shown in the browser). */
  pollSecret: string | null;
}

/** The state of a request as people see it; `expired` is derived from the clock. */
export type LoginRequestStatus = 'pending' | 'approved' | 'denied' | 'consumed' | 'expired';

/** What the approval page shows. */
export interface LoginRequestView {
  kind: BrowserLoginKind;
  userName: string;
  userCode: string;
  clientAddress: string | null;
  expiresAt: number;
  status: LoginRequestStatus;
  approvedBy: string | null;
}

/** How waiting for a decision ended. */
export type WaitOutcome = 'approved' | 'denied' | 'expired' | 'aborted';

/** Why an approval was refused (audited). */
export type ApprovalRefusal = 'unknown_request' | 'expired' | 'already_used' | 'already_denied' | 'code_mismatch' | 'wrong_user' | 'user_disabled';

/** The result of completing an approved request. */
export type CompletedLogin = { ok: true; user: User; method: string } | { ok: false; reason: 'not_approved' | 'already_consumed' | 'denied' | 'expired' | 'user_gone' | 'user_disabled' | 'wrong_user' };

export interface BrowserLoginsOptions {
  store: Store;
  clock: Clock;
  audit: Auditor;
  /** The web app's public base URL (no trailing slash), read when a request starts. */
  baseUrl: () => string;
  ttlMs?: number;
  pollMs?: number;
  /** Starts allowed per minute, per client address and in total (start-limits.ts). */
  startLimits?: StartLimitPolicy;
  /** Wakes waiters when a decision is written (default: in-process only). */
  feed?: DecisionFeed;
}

/** Wake-ups that change nothing (a stray message) end at most this many waits early; then only the poll counts. */
const MAX_EARLY_WAKEUPS = 100;

/** How long an expired request stays readable (so its link says "expired" rather than "not valid"). */
export const EXPIRED_LOGIN_RETENTION_MS = 60 * 60_000;

const MAX_USER_NAME = 64;
const MAX_ADDRESS = 64;

function status(rec: BrowserLoginRecord, now: number): LoginRequestStatus {
  if (rec.state === 'pending' && now >= rec.expiresAt) return 'expired';
  return rec.state;
}

/** Starting, approving, waiting for and completing browser login requests. */
export class BrowserLogins {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #audit: Auditor;
  readonly #baseUrl: () => string;
  readonly ttlMs: number;
  readonly pollMs: number;
  readonly #limiter: StartLimiter;
  readonly #feed: DecisionFeed;

  constructor(options: BrowserLoginsOptions) {
    this.#feed = options.feed ?? new DecisionFeed();
    this.#store = options.store;
    this.#clock = options.clock;
    this.#audit = options.audit;
    this.#baseUrl = options.baseUrl;
    this.ttlMs = options.ttlMs ?? DEFAULT_BROWSER_LOGIN_TTL_MS;
    this.pollMs = options.pollMs ?? DEFAULT_BROWSER_LOGIN_POLL_MS;
    this.#limiter = new StartLimiter(options.startLimits ?? DEFAULT_START_LIMITS);
  }

  /** The approval page's path for a secret. */
  static path(secret: string): string {
    return `/login/b/${secret}`;
  }

  /**
   * Starts a request for `userName`. Any name is accepted, known or not: the answer must not tell who
   * has an account (checklist item 8); a request for an unknown name simply can never be approved.
   * Since anyone can start one, starts are limited per client address and in total: AirlockError
   * 'throttled' (HTTP 429) past the limit.
   */
  async start(input: { kind: BrowserLoginKind; userName: string; clientAddress: string | null; connectionRef: string | null }): Promise<StartedLogin> {
    const now = this.#clock.now();
    this.#limiter.take(input.clientAddress, now);
    const secret = newSecret();
    const pollSecret = input.kind === 'device' ? newSecret() : null;
    const rec = {
      id: randomUUID(),
      kind: input.kind,
      secretHash: hashLoginSecret(secret),
      pollHash: pollSecret === null ? null : hashLoginSecret(pollSecret),
      userCode: newUserCode(),
      userName: input.userName.slice(0, MAX_USER_NAME),
      clientAddress: input.clientAddress?.slice(0, MAX_ADDRESS) ?? null,
      connectionRef: input.connectionRef?.slice(0, 128) ?? null,
      createdAt: now,
      expiresAt: now + this.ttlMs,
    };
    await this.#store.browserLogins.create(rec);
    return { id: rec.id, url: this.#baseUrl() + BrowserLogins.path(secret), userCode: rec.userCode, expiresAt: rec.expiresAt, pollSecret };
  }

  /**
   * Deletes requests that expired more than EXPIRED_LOGIN_RETENTION_MS ago (the server calls this
   * periodically, so rows from abandoned logins do not pile up); returns how many went.
   */
  async pruneExpired(): Promise<number> {
    return this.#store.browserLogins.pruneExpired(this.#clock.now() - EXPIRED_LOGIN_RETENTION_MS);
  }

  /** The request a URL secret names, as the approval page shows it; undefined when there is none. */
  async view(secret: string): Promise<LoginRequestView | undefined> {
    const rec = await this.#bySecret(secret);
    if (rec === undefined) return undefined;
    return {
      kind: rec.kind, userName: rec.userName, userCode: rec.userCode, clientAddress: rec.clientAddress,
      expiresAt: rec.expiresAt, status: status(rec, this.#clock.now()), approvedBy: rec.approvedBy,
    };
  }

  /**
   * Approves (or denies) the request the secret names, as the signed-in `approver`. The form repeats
   * the code the page showed, so a form posted for one request cannot decide another. Refused unless
   * the request is pending and unexpired, the code matches, and the approver is the user it is for.
   * Throws AirlockError with a message fit for the approval page; every decision is audited.
   */
  async decide(input: { secret: string; userCode: string; approver: User; method: string; clientAddress: string | null; decision: 'approved' | 'denied' }): Promise<LoginRequestView> {
    const now = this.#clock.now();
    const rec = await this.#bySecret(input.secret);
    const refuse = async (reason: ApprovalRefusal, code: 'not_found' | 'conflict' | 'forbidden', message: string): Promise<never> => {
      await this.#audit.record({
        type: APPROVAL_EVENT, outcome: 'denied', actor: input.approver.name, clientAddress: input.clientAddress,
        details: { reason, decision: input.decision, ...(rec ? { request: rec.id, for_user: rec.userName, kind: rec.kind } : {}) },
      });
      throw new AirlockError(code, message, { details: { reason } });
    };
    if (rec === undefined) return refuse('unknown_request', 'not_found', 'This login link is not valid. Start the login again to get a new one.');
    const st = status(rec, now);
    if (st === 'expired') return refuse('expired', 'conflict', 'This login link has expired. Start the login again to get a new one.');
    if (st === 'approved' || st === 'consumed') return refuse('already_used', 'conflict', 'This login link has already been used.');
    if (st === 'denied') return refuse('already_denied', 'conflict', 'This login was denied; start the login again if that was a mistake.');
    if (!sameCode(input.userCode, rec.userCode)) return refuse('code_mismatch', 'forbidden', 'The code does not belong to this login link.');
    // The factor proven in the browser must belong to the user the SSH session asked for: otherwise
    // signing in as B would finish a login started as A (Warpgate GHSA-c94j-vqr5-3mxr).
    if (input.approver.name !== rec.userName) {
      return refuse('wrong_user', 'forbidden', `This login is for the user ${rec.userName}, but you are signed in as ${input.approver.name}. Sign out and sign in as ${rec.userName}.`);
    }
    if (input.approver.disabled) return refuse('user_disabled', 'forbidden', 'Your account is disabled.');
    const won = await this.#store.browserLogins.decide(rec.id, { state: input.decision, userId: input.approver.id, userName: input.approver.name, method: input.method }, now);
    if (!won) {
      // Somebody (or another replica) decided it, or it expired, between the read and the write.
      const again = await this.#store.browserLogins.byId(rec.id);
      const st2 = again === undefined ? 'expired' : status(again, this.#clock.now());
      if (st2 === 'denied') return refuse('already_denied', 'conflict', 'This login was denied; start the login again if that was a mistake.');
      if (st2 === 'expired' || st2 === 'pending') return refuse('expired', 'conflict', 'This login link has expired. Start the login again to get a new one.');
      return refuse('already_used', 'conflict', 'This login link has already been used.');
    }
    // The waiting session (on this or another replica) reads the request again now, not at its next poll.
    this.#feed.publish(rec.id);
    await this.#audit.record({
      type: APPROVAL_EVENT, outcome: 'success', actor: input.approver.name, clientAddress: input.clientAddress,
      details: { decision: input.decision, request: rec.id, kind: rec.kind, for_user: rec.userName, method: input.method, ssh_client_address: rec.clientAddress },
    });
    return { kind: rec.kind, userName: rec.userName, userCode: rec.userCode, clientAddress: rec.clientAddress, expiresAt: rec.expiresAt, status: input.decision, approvedBy: input.approver.name };
  }

  /**
   * Waits until the request is decided or expires, reading the database when a decision wakes it
   * (decision-feed.ts) and every `pollMs` regardless (so an approval on any replica is seen even without
   * a wake-up), or until `signal` aborts (the connection went away). Bounded by the request's
   * lifetime. Database errors propagate: the caller denies.
   */
  async wait(id: string, options: { signal?: AbortSignal } = {}): Promise<WaitOutcome> {
    const { signal } = options;
    // The lifetime bounds the loop; the iteration cap bounds it even if the clock were to stand still.
    const maxIterations = Math.ceil(this.ttlMs / this.pollMs) + 2;
    let early = 0;
    for (let i = 0; i < maxIterations; i++) {
      if (signal?.aborted) return 'aborted';
      // Armed before the read: a decision written between the read and the sleep still wakes us.
      const wakeup = early < MAX_EARLY_WAKEUPS ? this.#feed.arm(id) : undefined;
      try {
        const rec = await this.#store.browserLogins.byId(id);
        if (rec === undefined) return 'expired';
        const st = status(rec, this.#clock.now());
        if (st === 'approved' || st === 'consumed') return 'approved';
        if (st === 'denied') return 'denied';
        if (st === 'expired') return 'expired';
        if (await sleep(this.pollMs, signal, wakeup)) {
          early++;
          i--;
        }
      } finally {
        wakeup?.cancel();
      }
    }
    return 'expired';
  }

  /** The current state of a request by id (one read; for a prompt that re-checks after Enter). */
  async check(id: string): Promise<LoginRequestStatus> {
    const rec = await this.#store.browserLogins.byId(id);
    return rec === undefined ? 'expired' : status(rec, this.#clock.now());
  }

  /**
   * Consumes an approved request and returns the user it approves, checked again: still present, not
   * disabled, and the user the request was for. Only the first caller gets `ok` (single use).
   */
  async complete(id: string): Promise<CompletedLogin> {
    const now = this.#clock.now();
    const rec = await this.#store.browserLogins.byId(id);
    if (rec === undefined) return { ok: false, reason: 'expired' };
    if (rec.state === 'denied') return { ok: false, reason: 'denied' };
    if (rec.state === 'consumed') return { ok: false, reason: 'already_consumed' };
    if (rec.state !== 'approved') return { ok: false, reason: status(rec, now) === 'expired' ? 'expired' : 'not_approved' };
    if (!(await this.#store.browserLogins.consume(id, now))) return { ok: false, reason: 'already_consumed' };
    const user = rec.approvedUserId === null ? undefined : await this.#store.users.byId(rec.approvedUserId);
    if (user === undefined) return { ok: false, reason: 'user_gone' };
    if (user.disabled) return { ok: false, reason: 'user_disabled' };
    if (user.name !== rec.userName) return { ok: false, reason: 'wrong_user' };
    return { ok: true, user, method: rec.approvalMethod ?? 'browser' };
  }

  /**
   * One poll of a device flow by its polling secret: pending, refused, or (once) the approved user.
   * An unknown secret reads as expired, like an old one.
   */
  async pollDevice(pollSecret: string): Promise<{ status: 'pending' | 'denied' | 'expired' } | { status: 'approved'; user: User; method: string; requestId: string }> {
    if (!SECRET.test(pollSecret)) return { status: 'expired' };
    const rec = await this.#store.browserLogins.byPollHash(hashLoginSecret(pollSecret));
    if (rec === undefined || rec.kind !== 'device') return { status: 'expired' };
    const st = status(rec, this.#clock.now());
    if (st === 'pending') return { status: 'pending' };
    if (st === 'denied') return { status: 'denied' };
    if (st !== 'approved') return { status: 'expired' };
    const done = await this.complete(rec.id);
    if (!done.ok) return { status: done.reason === 'denied' ? 'denied' : 'expired' };
    return { status: 'approved', user: done.user, method: done.method, requestId: rec.id };
  }

  async #bySecret(secret: string): Promise<BrowserLoginRecord | undefined> {
    // Malformed secrets never reach the database.
    if (!SECRET.test(secret)) return undefined;
    return this.#store.browserLogins.bySecretHash(hashLoginSecret(secret));
  }
}

/** Sleeps `ms`, or less when `signal` aborts or `wakeup` fires; resolves true when woken. */
function sleep(ms: number, signal: AbortSignal | undefined, wakeup?: Wakeup): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve(false);
      return;
    }
    let done = false;
    const finish = (woken: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(woken);
    };
    const onAbort = () => finish(false);
    const timer = setTimeout(() => finish(false), ms);
    signal?.addEventListener('abort', onAbort, { once: true });
    void wakeup?.woken.then(() => finish(true));
  });
}
