/**
 * The access version: a counter in `settings` that increases after every write that can take access
 * away from someone already connected — a user disabled, a certificate revoked, a target removed, a
 * project membership or a registered key removed. Gateways on every replica poll it (with the KRL
 * version) in one small query and re-check their live connections when it moves (issue 10, item 5).
 *
 * It wraps the repositories rather than their callers, so that every path — the admin CLI in another
 * process, the HTTP API, the inventory service, the CA — bumps it without having to remember to.
 * The bump follows the write: a process that dies in between leaves the change unseen by live
 * connections until the next change (new channels are still checked against the database).
 */
import type { Store } from './repositories.ts';

/** The settings key of the access version. */
export const ACCESS_VERSION_KEY = 'access_version';

/** The setting keys whose change means "re-check live connections": the access version and the KRL version. */
export const LIVE_VERSION_KEYS = [ACCESS_VERSION_KEY, 'krl_version'] as const;

/** Returns `store` with its access-narrowing writes followed by an access-version bump. */
export function withAccessVersion(store: Store): Store {
  const bump = (): Promise<number> => store.settings.increment(ACCESS_VERSION_KEY);
  /** Runs `write`, then bumps the version when `changed(result)` says the write did something. */
  const after = <A extends unknown[], R>(write: (...args: A) => Promise<R>, changed: (r: R) => boolean) =>
    async (...args: A): Promise<R> => {
      const result = await write(...args);
      if (changed(result)) await bump();
      return result;
    };
  const { users, certificates, targets, projects, publicKeys } = store;
  return {
    ...store,
    // Enabling a user gives access; only disabling takes it away — but bumping on both is harmless and simpler.
    users: { ...users, setDisabled: after(users.setDisabled.bind(users), (ok) => ok) },
    certificates: {
      ...certificates,
      revoke: after(certificates.revoke.bind(certificates), (ok) => ok),
      revokeAllOfUser: after(certificates.revokeAllOfUser.bind(certificates), (serials) => serials.length > 0),
    },
    targets: { ...targets, remove: after(targets.remove.bind(targets), (ok) => ok) },
    projects: { ...projects, removeMember: after(projects.removeMember.bind(projects), (ok) => ok) },
    publicKeys: { ...publicKeys, remove: after(publicKeys.remove.bind(publicKeys), (ok) => ok) },
    close: () => store.close(),
  };
}
