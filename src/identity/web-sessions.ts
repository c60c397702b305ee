/**
 * Web sessions: what a browser holds after signing in (password + TOTP, or OIDC), in a cookie. The
 * cookie carries 256 random bits; the database keeps only their SHA-256 (checklist item 14), so a
 * database leak yields no usable session. Short-lived: a session exists to approve logins and manage
 * keys, not to stay signed in for days.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { Store, User, WebSessionRecord } from '../store/repositories.ts';

/** Default lifetime of a web session. */
export const DEFAULT_WEB_SESSION_TTL_MS = 60 * 60_000;

const SECRET = /^[A-Za-z0-9_-]{43}$/;

function hash(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Creating, resolving and ending web sessions. */
export class WebSessions {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly ttlMs: number;

  constructor(deps: { store: Store; clock: Clock; ttlMs?: number }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.ttlMs = deps.ttlMs ?? DEFAULT_WEB_SESSION_TTL_MS;
  }

  /** Starts a session for a user who has just signed in; returns the cookie secret (shown once). */
  async create(user: User, method: string): Promise<{ secret: string; record: WebSessionRecord }> {
    const now = this.#clock.now();
    const secret = randomBytes(32).toString('base64url');
    const record: WebSessionRecord = { id: randomUUID(), secretHash: hash(secret), userId: user.id, method, createdAt: now, expiresAt: now + this.ttlMs };
    await this.#store.webSessions.create(record);
    await this.#store.webSessions.pruneExpired(now);
    return { secret, record };
  }

  /** The signed-in user of a cookie secret; undefined for unknown, expired, or disabled. */
  async authenticate(secret: string | undefined): Promise<{ user: User; session: WebSessionRecord } | undefined> {
    if (secret === undefined || !SECRET.test(secret)) return undefined;
    const session = await this.#store.webSessions.byHash(hash(secret));
    if (session === undefined || session.expiresAt <= this.#clock.now()) return undefined;
    const user = await this.#store.users.byId(session.userId);
    if (user === undefined || user.disabled) return undefined;
    return { user, session };
  }

  /** Ends the session a cookie secret names (sign-out); unknown secrets are ignored. */
  async end(secret: string | undefined): Promise<void> {
    if (secret === undefined || !SECRET.test(secret)) return;
    const session = await this.#store.webSessions.byHash(hash(secret));
    if (session !== undefined) await this.#store.webSessions.remove(session.id);
  }
}
