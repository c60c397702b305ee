/**
 * Recognising the one database error the repositories turn into an answer: a unique or primary-key
 * violation. Everything else (lost connection, closed database, foreign key) is rethrown, so a
 * storage failure can never be mistaken for "already used" or "does not exist".
 */

/** PostgreSQL SQLSTATE unique_violation (primary keys included). */
const PG_UNIQUE_VIOLATION = '23505';
/** SQLite extended result codes SQLITE_CONSTRAINT_PRIMARYKEY and SQLITE_CONSTRAINT_UNIQUE. */
const SQLITE_CONSTRAINT_PRIMARYKEY = 1555;
const SQLITE_CONSTRAINT_UNIQUE = 2067;

/** Whether an error from either dialect is a unique or primary-key violation. */
export function isUniqueViolation(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { code, errcode } = err as { code?: unknown; errcode?: unknown };
  if (code === PG_UNIQUE_VIOLATION) return true;
  return code === 'ERR_SQLITE_ERROR' && (errcode === SQLITE_CONSTRAINT_PRIMARYKEY || errcode === SQLITE_CONSTRAINT_UNIQUE);
}
