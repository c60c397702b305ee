/** The Store on Kysely: opens the database, brings its schema up to date and wires the repositories. */
import { sql } from 'kysely';
import { auditRepository } from './audit-repository.ts';
import { browserLoginsRepository, externalIdentitiesRepository, oidcStatesRepository, webSessionsRepository } from './browser-login-repositories.ts';
import { certificatesRepository } from './certificates-repository.ts';
import { openDatabase, type OpenDatabaseOptions, type OpenedDatabase } from './database.ts';
import { liveConnectionsRepository } from './live-connections-repository.ts';
import { migrateToLatest } from './migrate.ts';
import { projectsRepository } from './projects-repository.ts';
import { publicKeysRepository } from './public-keys-repository.ts';
import { recoveryCodesRepository } from './recovery-codes-repository.ts';
import type { Store } from './repositories.ts';
import { settingsRepository } from './settings-repository.ts';
import { withAccessVersion } from './access-version.ts';
import { withCredentialsVersion } from './credential-writes.ts';
import { targetsRepository } from './targets-repository.ts';
import { jobsRepository } from './jobs-repository.ts';
import { throttleRepository } from './throttle-repository.ts';
import { tokensRepository } from './tokens-repository.ts';
import { totpReplayRepository } from './totp-replay-repository.ts';
import { usersRepository } from './users-repository.ts';

/** Opens the database the options name, migrates it to the latest schema and returns the Store. */
export async function createStore(options: OpenDatabaseOptions): Promise<Store> {
  const { db, dialect, pool } = await openDatabase(options);
  try {
    await migrateToLatest(db, dialect);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return storeOn({ db, dialect, ...(pool === undefined ? {} : { pool }) });
}

/** The Store over an already opened and migrated database (openDatabase's result); `close()` destroys `db`. */
export function storeOn({ db, dialect, pool }: OpenedDatabase): Store {
  let closing: Promise<void> | undefined;
  // Writes that narrow access bump a counter that gateways on every replica watch (access-version.ts);
  // token revocations and user changes bump one that token-lookup caches watch (credential-writes.ts).
  return withCredentialsVersion(withAccessVersion({
    dialect,
    async ping(): Promise<void> {
      await sql`select 1`.execute(db);
    },
    poolStats: () => (pool === undefined ? null : { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    users: usersRepository(db),
    recoveryCodes: recoveryCodesRepository(db),
    totpReplay: totpReplayRepository(db),
    throttle: throttleRepository(db),
    tokens: tokensRepository(db, dialect),
    certificates: certificatesRepository(db, dialect, pool),
    settings: settingsRepository(db),
    audit: auditRepository(db),
    projects: projectsRepository(db),
    targets: targetsRepository(db),
    publicKeys: publicKeysRepository(db),
    browserLogins: browserLoginsRepository(db),
    webSessions: webSessionsRepository(db),
    oidcStates: oidcStatesRepository(db),
    externalIdentities: externalIdentitiesRepository(db),
    liveConnections: liveConnectionsRepository(db),
    jobs: jobsRepository(db),
    // Idempotent: the server's shutdown path and a test's cleanup may both close the store.
    close(): Promise<void> {
      closing ??= db.destroy();
      return closing;
    },
  }));
}
