/**
 * Hono's router with a bounded memo of its answers. The app's route set (137 routes, wildcard
 * middleware from the portal and operator pages among them) is too irregular for hono's RegExpRouter,
 * so its SmartRouter falls back to the TrieRouter, which walks the tree and sorts the matching
 * handler sets again on every request: several µs per API call, always with the same answer for the
 * same method and path. The answer depends on nothing else (a match result is built fresh by the
 * router and only read afterwards), so it is kept, for short paths and a bounded number of them: a
 * client that sends endless distinct paths only makes the memo start over, and such paths cost what
 * they cost before. Adding a route forgets everything (hono adds all routes before the first match).
 */
import type { Result, Router } from 'hono/router';

/** Paths longer than this are matched every time (ids in paths are short; anything long is unusual). */
const MAX_PATH = 256;
/** Distinct (method, path) answers kept; the memo is emptied when full. */
const MAX_ENTRIES = 512;

/** A router that answers repeated (method, path) matches from memory. */
export class CachedRouter<T> implements Router<T> {
  readonly name: string;
  readonly #inner: Router<T>;
  readonly #memo = new Map<string, Result<T>>();

  constructor(inner: Router<T>) {
    this.#inner = inner;
    this.name = `Cached(${inner.name})`;
  }

  /** Entries kept now (for tests). */
  get size(): number {
    return this.#memo.size;
  }

  add(method: string, path: string, handler: T): void {
    this.#memo.clear();
    this.#inner.add(method, path, handler);
  }

  match(method: string, path: string): Result<T> {
    if (path.length > MAX_PATH) return this.#inner.match(method, path);
    const key = `${method} ${path}`;
    let result = this.#memo.get(key);
    if (result === undefined) {
      result = this.#inner.match(method, path);
      if (this.#memo.size >= MAX_ENTRIES) this.#memo.clear();
      this.#memo.set(key, result);
    }
    return result;
  }
}
