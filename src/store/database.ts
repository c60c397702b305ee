/**
 * Opening the database: SQLite or PostgreSQL, chosen by one URL.
 *
 * Choosing:
 * - SQLite (the default, no URL): one file `<dataDir>/airlock.db`, nothing to run beside Airlock.
 *   Right for one `airlock serve` process, which is enough for a department. Back it up with
 *   `sqlite3 airlock.db ".backup copy.db"` (or `VACUUM INTO`), not by copying the file while the
 *   server runs: WAL mode keeps recent writes in airlock.db-wal.
 * - PostgreSQL (`AIRLOCK_DATABASE_URL=postgres://…`): for several `airlock serve` replicas behind a
 *   load balancer. Everything that must hold across replicas (TOTP replay, recovery-code use, quotas,
 *   revocation) is enforced by the database, so the replicas share it safely.
 * - `sqlite::memory:` is an in-memory SQLite database that disappears on close; for tests only.
 */
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { AirlockError } from '../errors.ts';
import type { Database } from './schema.ts';
import { nodeSqliteDialect, openSqlite } from './sqlite-driver.ts';

export type SqlDialect = 'sqlite' | 'postgres';

export interface OpenDatabaseOptions {
  /** `postgres://…` / `postgresql://…`, `sqlite::memory:`, or unset for `<dataDir>/airlock.db`. */
  url?: string | undefined;
  dataDir: string;
}

export interface OpenedDatabase {
  db: Kysely<Database>;
  dialect: SqlDialect;
  /** PostgreSQL's connection pool (for its use in metrics); absent for SQLite. */
  pool?: pg.Pool;
}

/** The SQLite file's name inside the data directory. */
export const SQLITE_FILE_NAME = 'airlock.db';

const PG_INT8_OID = 20;

/** Opens (without migrating) the database the options name. */
export async function openDatabase(options: OpenDatabaseOptions): Promise<OpenedDatabase> {
  const url = options.url === undefined || options.url.trim() === '' ? undefined : options.url.trim();
  if (url !== undefined && /^postgres(ql)?:\/\//i.test(url)) {
    const pool = createPool(url);
    return { db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), dialect: 'postgres', pool };
  }
  if (url === 'sqlite::memory:') {
    return { db: new Kysely<Database>({ dialect: nodeSqliteDialect(openSqlite(':memory:')) }), dialect: 'sqlite' };
  }
  if (url !== undefined) {
    // Falling back to a local SQLite file on a typo would split the state of a replicated setup
    // (each replica with its own TOTP-replay and revocation records), so an unknown URL is an error.
    throw new AirlockError('config', 'the database URL must start with postgres:// or postgresql:// (or be unset for SQLite in the data directory)');
  }
  const file = prepareSqliteFile(options.dataDir);
  return { db: new Kysely<Database>({ dialect: nodeSqliteDialect(openSqlite(file)) }), dialect: 'sqlite' };
}

/**
 * Creates the data directory (0700) and the database file (0600) before SQLite opens it: the file
 * holds password hashes and TOTP secrets. SQLite gives the -wal and -shm files the database file's
 * permissions. An existing file is tightened to 0600; an existing directory is left as the operator
 * made it.
 */
function prepareSqliteFile(dataDir: string): string {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, SQLITE_FILE_NAME);
  closeSync(openSync(file, 'a', 0o600));
  chmodSync(file, 0o600);
  return file;
}

function createPool(url: string): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    // Queries given to one connection without waiting go out together (pg's pipeline mode): the
    // certificate batch sends BEGIN, its locks and its quota read in one round trip, then the insert
    // and COMMIT in another (certificates-repository.ts). Everything else awaits each query, which
    // pipelining leaves exactly as it was; cursors, which it does not allow, are not used.
    pipeline: true,
    // Per-pool parsers, not pg.types.setTypeParser, so no other pg user in the process is affected.
    types: { getTypeParser: typeParser },
  });
  // pg discards a pooled idle connection that fails (e.g. the server restarted) and opens a new one
  // for the next query; without a listener the 'error' event would crash the process.
  pool.on('error', (err) => {
    process.emitWarning(`idle PostgreSQL connection failed: ${err.message}`, 'AirlockDatabaseWarning');
  });
  return pool;
}

/**
 * pg returns int8 (bigint columns, bigserial ids and count(*)) as strings. Every int8 Airlock stores
 * is an epoch-millisecond time, a serial id or a count, all far below 2^53, so they parse to numbers.
 * A value that would lose precision stays a string, which the row mappers reject instead of rounding.
 */
function typeParser(oid: number, format?: 'text' | 'binary'): (value: string) => unknown {
  if (oid === PG_INT8_OID && format !== 'binary') return parseInt8;
  // pg-types declares getTypeParser as returning any; these are pg's own default parsers.
  // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment
  const parser: (value: string) => unknown = pg.types.getTypeParser(oid, format);
  return parser;
}

function parseInt8(value: string): number | string {
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : value;
}
