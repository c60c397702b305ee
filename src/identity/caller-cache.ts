/**
 * A bounded cache of bearer token → (token, user), so that an API request does not cost two SELECTs
 * (issue 14 item 5). Revocation must still hold (SECURITY.md):
 * - on this replica, every write that can end a token or change its user calls `invalidate()`
 *   (store/credential-writes.ts), which empties the cache before the write's caller goes on;
 * - writes made elsewhere (another replica, the admin CLI in another process) bump the credentials
 *   version in the database; `watchCredentials` reads it every `intervalMs` and empties the cache when
 *   it moved. The cache answers only while its last confirming read *started* less than
 *   `MAX_UNCONFIRMED_MS` ago, so a stalled watcher or an unreachable database turns the cache off
 *   rather than letting it serve revoked tokens.
 * Times are taken from a monotonic clock, not the injected one, so that a test's frozen clock cannot
 * keep an entry alive.
 */
import { performance } from 'node:perf_hooks';
import type { Token, User } from '../store/repositories.ts';
import type { SettingsRepository } from '../store/repositories.ts';
import { CREDENTIALS_VERSION_KEYS } from '../store/credential-writes.ts';

/** The cache answers only if the credentials version was confirmed unchanged by a read started this recently. */
export const MAX_UNCONFIRMED_MS = 800;
/** How often the watcher reads the credentials version. */
export const CREDENTIALS_WATCH_MS = 200;
/** An entry is dropped after this long whatever the version says (a change made behind Airlock's back). */
export const CALLER_CACHE_MAX_AGE_MS = 60_000;
/** At most this many tokens are cached; the oldest entry goes first. */
export const CALLER_CACHE_MAX_ENTRIES = 10_000;

interface Entry {
  readonly token: Token;
  readonly user: User;
  readonly until: number;
}

/** The cache; `generation()` before a lookup and `set(…, generation)` after it avoid caching a lookup that raced a write. */
export class CallerCache {
  readonly #entries = new Map<string, Entry>();
  readonly #maxEntries: number;
  readonly #now: () => number;
  #generation = 0;
  /** Start time of the last read that found the credentials version unchanged; -Infinity until the first. */
  #confirmedAt = Number.NEGATIVE_INFINITY;

  constructor(opts: { maxEntries?: number; now?: () => number } = {}) {
    this.#maxEntries = opts.maxEntries ?? CALLER_CACHE_MAX_ENTRIES;
    this.#now = opts.now ?? (() => performance.now());
  }

  /** The cached lookup of a token hash, if the cache is confirmed fresh and the entry is not too old. */
  get(tokenHash: string): { token: Token; user: User } | undefined {
    const now = this.#now();
    if (now - this.#confirmedAt >= MAX_UNCONFIRMED_MS) return undefined;
    const entry = this.#entries.get(tokenHash);
    if (entry === undefined) return undefined;
    if (entry.until <= now) {
      this.#entries.delete(tokenHash);
      return undefined;
    }
    return entry;
  }

  /** The current generation; read it before the database lookup whose result goes to `set`. */
  generation(): number {
    return this.#generation;
  }

  /** Caches a lookup, unless a write invalidated the cache since `generation` was read. */
  set(tokenHash: string, token: Token, user: User, generation: number): void {
    if (generation !== this.#generation) return;
    if (!this.#entries.has(tokenHash) && this.#entries.size >= this.#maxEntries) {
      // Maps iterate in insertion order: the first key is the oldest entry.
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(tokenHash, { token, user, until: this.#now() + CALLER_CACHE_MAX_AGE_MS });
  }

  /** Records a token's last use in its cached copy, so that the once-a-minute write stays once a minute. */
  noteUse(tokenHash: string, now: number): void {
    const entry = this.#entries.get(tokenHash);
    if (entry !== undefined) this.#entries.set(tokenHash, { ...entry, token: { ...entry.token, lastUsedAt: now } });
  }

  /** Forgets everything, and makes lookups already under way not cache their (possibly stale) result. */
  invalidate(): void {
    this.#generation++;
    this.#entries.clear();
  }

  /** The credentials version was read unchanged by a read that started at `startedAt` (monotonic). */
  confirm(startedAt: number): void {
    if (startedAt > this.#confirmedAt) this.#confirmedAt = startedAt;
  }

  /** Monotonic now, for the watcher's `confirm`. */
  now(): number {
    return this.#now();
  }

  /** How many entries are held (tests). */
  get size(): number {
    return this.#entries.size;
  }
}

/**
 * Reads the credentials version every `intervalMs`; empties `cache` when it moved, confirms it otherwise.
 * Returns a function that stops the watch.
 */
export function watchCredentials(cache: CallerCache, settings: Pick<SettingsRepository, 'getMany'>, opts: { intervalMs?: number; onError?: (err: unknown) => void } = {}): () => void {
  const intervalMs = opts.intervalMs ?? CREDENTIALS_WATCH_MS;
  let seen: string | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const poll = async (): Promise<void> => {
    const startedAt = cache.now();
    try {
      const values = await settings.getMany(CREDENTIALS_VERSION_KEYS);
      const version = CREDENTIALS_VERSION_KEYS.map((k) => values.get(k) ?? '0').join('/');
      if (version !== seen) {
        // The first read also empties the cache: it may hold lookups made before the watch began.
        cache.invalidate();
        seen = version;
      }
      cache.confirm(startedAt);
    } catch (err) {
      // Not confirmed: the cache stops answering once MAX_UNCONFIRMED_MS has passed.
      opts.onError?.(err);
    }
    if (!stopped) {
      timer = setTimeout(() => void poll(), intervalMs);
      timer.unref();
    }
  };
  void poll();
  return () => {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
  };
}
