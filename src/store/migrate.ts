/**
 * Bringing a database to the latest schema, safely when several processes start at once.
 *
 * Kysely's Migrator (0.28) already serialises the migration run itself: on PostgreSQL it takes a
 * session-level `pg_advisory_lock` (PostgresAdapter.acquireMigrationLock) and runs the pending
 * migrations in one transaction. Its preamble, which creates `kysely_migration` and
 * `kysely_migration_lock`, runs before that lock and relies on catching "already exists" races. We
 * hold our own advisory lock (a different key) around the whole call, so two replicas starting
 * together simply queue, preamble included.
 *
 * On SQLite, Kysely takes no lock (it assumes a single in-process connection) and, as its adapter
 * reports no transactional DDL, runs migrations outside a transaction. We wrap the whole call in
 * `BEGIN IMMEDIATE`: it takes SQLite's write lock up front, so a second process (e.g. `airlock admin`
 * started beside the server) waits on busy_timeout and then sees the finished schema, and a
 * migration that fails halfway leaves nothing behind.
 */
import { Migrator, sql, type Kysely, type MigrationResultSet } from 'kysely';
import { AirlockError } from '../errors.ts';
import type { SqlDialect } from './database.ts';
import { migrationProvider } from './migrations/index.ts';
import type { Database } from './schema.ts';

/** pg_advisory_lock(int4, int4) key space is separate from Kysely's single-bigint key. */
const PG_LOCK_KEY_1 = 0x41726c6b; // 'Arlk'
const PG_LOCK_KEY_2 = 1; // migrations

/** Applies every pending migration; returns the names applied (empty when already up to date). */
export async function migrateToLatest(db: Kysely<Database>, dialect: SqlDialect): Promise<string[]> {
  if (dialect === 'postgres') {
    return db.connection().execute(async (conn) => {
      await sql`select pg_advisory_lock(${PG_LOCK_KEY_1}::int4, ${PG_LOCK_KEY_2}::int4)`.execute(conn);
      try {
        return await runMigrator(conn, dialect);
      } finally {
        await sql`select pg_advisory_unlock(${PG_LOCK_KEY_1}::int4, ${PG_LOCK_KEY_2}::int4)`.execute(conn);
      }
    });
  }
  return db.connection().execute(async (conn) => {
    await sql`begin immediate`.execute(conn);
    let applied: string[];
    try {
      applied = await runMigrator(conn, dialect);
    } catch (err) {
      try {
        await sql`rollback`.execute(conn);
      } catch {
        // SQLite may already have rolled back on its own (e.g. on SQLITE_FULL); the first error is the one to report.
      }
      throw err;
    }
    await sql`commit`.execute(conn);
    return applied;
  });
}

async function runMigrator(db: Kysely<Database>, dialect: SqlDialect): Promise<string[]> {
  const migrator = new Migrator({ db, provider: migrationProvider(dialect) });
  const result: MigrationResultSet = await migrator.migrateToLatest();
  if (result.error !== undefined) {
    const failed = result.results?.find((r) => r.status === 'Error')?.migrationName;
    throw new AirlockError(
      'unavailable',
      failed === undefined
        ? 'the database schema could not be brought up to date (is it newer than this version of Airlock?)'
        : `the database migration ${failed} failed`,
      { cause: result.error },
    );
  }
  return (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
