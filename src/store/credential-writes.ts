/**
 * Writes that can end a bearer token or change what its user may do, made visible to caches of token
 * lookups (identity/caller-cache.ts): a counter in `settings` that every process bumps after such a
 * write (read by the other replicas' watchers), and an in-process hook that empties this process's
 * cache at once, so that the very next request on the same replica is refused. Like access-version.ts
 * these wrap the repositories rather than their callers, so no path can forget them.
 */
import { ACCESS_VERSION_KEY } from './access-version.ts';
import type { Store } from './repositories.ts';

/** The settings key bumped after a token is revoked or a user changed. */
export const CREDENTIALS_VERSION_KEY = 'credentials_version';
/** What a token-lookup cache watches: the credentials version, and the access version (a user disabled bumps it). */
export const CREDENTIALS_VERSION_KEYS = [CREDENTIALS_VERSION_KEY, ACCESS_VERSION_KEY] as const;

/**
 * Runs `write`, then `changed()` — also when the write failed, since it may have happened anyway (then
 * the write's own error is the one reported, not a failure of `changed`).
 */
function after<A extends unknown[], R>(write: (...args: A) => Promise<R>, changed: () => Promise<unknown> | void) {
  return async (...args: A): Promise<R> => {
    let result: R;
    try {
      result = await write(...args);
    } catch (err) {
      await Promise.resolve().then(changed).catch(() => undefined);
      throw err;
    }
    await changed();
    return result;
  };
}

/** Returns `store` with token revocations and user changes followed by a credentials-version bump. */
export function withCredentialsVersion(store: Store): Store {
  const bump = (): Promise<number> => store.settings.increment(CREDENTIALS_VERSION_KEY);
  return wrap(store, bump);
}

/** Returns `store` with token revocations and user changes followed by `changed()` (this process's cache). */
export function withCredentialWrites(store: Store, changed: () => void): Store {
  return wrap(store, changed);
}

function wrap(store: Store, changed: () => Promise<unknown> | void): Store {
  const { users, tokens } = store;
  return {
    ...store,
    users: { ...users, setDisabled: after(users.setDisabled.bind(users), changed), update: after(users.update.bind(users), changed) },
    tokens: { ...tokens, revoke: after(tokens.revoke.bind(tokens), changed), revokeAllOfUser: after(tokens.revokeAllOfUser.bind(tokens), changed) },
    close: () => store.close(),
  };
}
