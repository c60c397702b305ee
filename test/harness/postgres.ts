/**
 * A throwaway PostgreSQL database per test suite. Set AIRLOCK_TEST_DATABASE_URL to a server the
 * tests may create databases on (e.g. postgres://postgres@127.0.0.1:5432/postgres); each suite gets a
 * fresh `airlock_test_<random>` database and drops it at the end. Without the variable the
 * PostgreSQL suites are skipped with POSTGRES_SKIP_REASON.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The environment variable naming the PostgreSQL server for tests. */
export const TEST_DATABASE_ENV = 'AIRLOCK_TEST_DATABASE_URL';

/** Why a PostgreSQL suite is skipped when no server is configured; `undefined` when one is. */
export const POSTGRES_SKIP_REASON: string | undefined = process.env[TEST_DATABASE_ENV]
  ? undefined
  : `${TEST_DATABASE_ENV} not set: set it to e.g. postgres://postgres@127.0.0.1:5432/postgres to run the PostgreSQL suite`;

export interface TestDatabase {
  /** A URL to the fresh database, for `openDatabase` / `createStore`. */
  url: string;
  /** Drops the database, disconnecting whoever is still on it. Safe to call twice. */
  drop(): Promise<void>;
}

/** Creates a fresh PostgreSQL database through AIRLOCK_TEST_DATABASE_URL; null when the variable is unset. */
export async function withTestDatabase(): Promise<TestDatabase | null> {
  const adminUrl = process.env[TEST_DATABASE_ENV];
  if (!adminUrl) return null;
  // Only [a-z0-9_], so the name is safe to splice into CREATE/DROP DATABASE (identifiers cannot be bound).
  const name = `airlock_test_${randomBytes(6).toString('hex')}`;
  await onAdminConnection(adminUrl, async (client) => {
    await client.query(`CREATE DATABASE ${name}`);
    // Throwaway data: skip the WAL flush at each commit, which otherwise dominates the suites' time.
    await client.query(`ALTER DATABASE ${name} SET synchronous_commit = off`);
  });
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let dropped: Promise<void> | undefined;
  return {
    url: url.toString(),
    drop(): Promise<void> {
      dropped ??= onAdminConnection(adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined);
      return dropped;
    },
  };
}

async function onAdminConnection<T>(adminUrl: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}
