/**
 * Bearer tokens for the API: what a password + TOTP sign-in gives the CLI, and (later) scoped API tokens
 * for orchestrators. Only a SHA-256 hash of each token is stored (checklist item 14): the tokens are 256
 * random bits, so a fast hash is enough and a database leak does not yield usable tokens.
 */
import { hash, randomBytes, randomUUID } from 'node:crypto';
import type { Clock } from '../clock.ts';
import { AirlockError } from '../errors.ts';
import type { Store, Token, User } from '../store/repositories.ts';
import type { CallerCache } from './caller-cache.ts';

const PREFIX = 'alk_';

/** SHA-256 hex of a bearer token. */
export function hashToken(token: string): string {
  return hash('sha256', token, 'hex');
}

export class SessionTokens {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #cache: CallerCache | undefined;

  /** `cache` must be the one that `store`'s credential writes invalidate (store/credential-writes.ts). */
  constructor(deps: { store: Store; clock: Clock; cache?: CallerCache }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#cache = deps.cache;
  }

  /** Creates a token for a user; returns the secret (shown once) and its record. */
  async issue(user: User, opts: { kind: 'session' | 'api'; ttlMs: number; scopes?: string[] }): Promise<{ token: string; record: Token }> {
    const token = PREFIX + randomBytes(32).toString('base64url');
    const now = this.#clock.now();
    const record: Token = {
      id: randomUUID(), tokenHash: hashToken(token), userId: user.id, kind: opts.kind, scopes: opts.scopes ?? [],
      createdAt: now, expiresAt: now + opts.ttlMs, lastUsedAt: null,
    };
    await this.#store.tokens.create({ id: record.id, tokenHash: record.tokenHash, userId: record.userId, kind: record.kind, scopes: record.scopes, createdAt: record.createdAt, expiresAt: record.expiresAt });
    return { token, record };
  }

  /**
   * Resolves a bearer token to its user. Unknown, malformed, expired tokens and disabled users all give
   * the same 'unauthenticated' error, so a caller learns nothing about which it was.
   */
  async authenticate(token: string | undefined): Promise<{ user: User; token: Token }> {
    // Built only when needed: an Error captures a stack trace, which is not free on every request.
    const denied = () => new AirlockError('unauthenticated', 'Your session has expired or is invalid; sign in again with `airlock login`.');
    if (!token || !token.startsWith(PREFIX) || token.length > 200) throw denied();
    const tokenHash = hashToken(token);
    const cached = this.#cache?.get(tokenHash);
    if (cached !== undefined) {
      // Expiry is checked on every use; the cache only saves the two reads.
      if (cached.token.expiresAt <= this.#clock.now()) throw denied();
      return cached;
    }
    const generation = this.#cache?.generation() ?? 0;
    // The token and its user in one read: a deleted user's tokens are gone with it (on delete cascade).
    const found = await this.#store.tokens.byHashWithUser(tokenHash);
    const now = this.#clock.now();
    if (!found || found.token.expiresAt <= now || found.user.disabled) throw denied();
    const { token: rec, user } = found;
    this.#cache?.set(tokenHash, rec, user, generation);
    return { user, token: rec };
  }

  /** Records a token's last use, at most once a minute (it is informational, not worth a write per request). */
  async noteUse(token: Token): Promise<void> {
    const now = this.#clock.now();
    if (token.lastUsedAt !== null && now - token.lastUsedAt <= 60_000) return;
    await this.#store.tokens.touch(token.id, now);
    this.#cache?.noteUse(token.tokenHash, now);
  }

  /** Ends a token (sign-out). */
  async revoke(tokenId: string): Promise<void> {
    await this.#store.tokens.revoke(tokenId);
  }
}
