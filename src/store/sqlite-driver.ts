/**
 * A Kysely dialect on Node 24's built-in `node:sqlite`, so SQLite needs no native package.
 *
 * Kysely's `SqliteDialect` drives any object shaped like better-sqlite3's `Database`: `prepare(sql)`
 * returning a statement with `reader`, `all(params)`, `run(params)` and `iterate(params)`, plus
 * `close()` (see kysely/dist/esm/dialect/sqlite/sqlite-driver.js: it calls `all` when `reader` is
 * true, otherwise `run`, and `iterate` only for streamed selects). This file adapts `DatabaseSync` and
 * `StatementSync` to that shape; Kysely's driver keeps one connection behind a mutex, which is what a
 * synchronous SQLite handle needs.
 *
 * On the pinned Node (24.21.0) `node:sqlite` prints no ExperimentalWarning (checked with
 * `node -e "require('node:sqlite')"`), so nothing is suppressed here.
 */
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { SqliteDialect, type SqliteDatabase, type SqliteStatement } from 'kysely';

/** Statements are cached by SQL text; repositories use a few dozen distinct queries. */
const STATEMENT_CACHE_LIMIT = 200;

/**
 * Connection settings applied once at open:
 * - WAL lets readers (e.g. `airlock admin` in another process) run while the server writes.
 * - busy_timeout makes a second process wait up to 5 s for the write lock instead of failing at once.
 * - foreign_keys is off by default in SQLite; the schema relies on it for ON DELETE CASCADE.
 * - synchronous=NORMAL is durable across application crashes in WAL mode (only a power loss can
 *   drop the last transactions), and avoids an fsync per commit.
 * - temp_store=MEMORY keeps statement journals (a multi-row insert inside a transaction keeps one, to
 *   undo itself alone) in memory: on disk each was a file created and deleted in /var/tmp, ~35 a
 *   second under issuance load (strace of `npm run bench:ca`), and they hold nothing that must outlive
 *   the statement.
 */
// busy_timeout first: switching to WAL needs a lock that another process opening the file may hold.
const PRAGMAS = ['PRAGMA busy_timeout = 5000', 'PRAGMA journal_mode = WAL', 'PRAGMA foreign_keys = ON', 'PRAGMA synchronous = NORMAL', 'PRAGMA temp_store = MEMORY'];

/** Adapts one `StatementSync` to the statement shape Kysely's SQLite driver expects. */
class NodeSqliteStatement implements SqliteStatement {
  readonly #stmt: StatementSync;
  readonly reader: boolean;

  constructor(stmt: StatementSync) {
    this.#stmt = stmt;
    // A statement that yields columns (SELECT, PRAGMA, INSERT … RETURNING) is read with all();
    // better-sqlite3's `reader` means exactly this.
    this.reader = stmt.columns().length > 0;
  }

  all(parameters: ReadonlyArray<unknown>): unknown[] {
    return this.#stmt.all(...toInputs(parameters));
  }

  run(parameters: ReadonlyArray<unknown>): { changes: number | bigint; lastInsertRowid: number | bigint } {
    const { changes, lastInsertRowid } = this.#stmt.run(...toInputs(parameters));
    return { changes, lastInsertRowid };
  }

  iterate(parameters: ReadonlyArray<unknown>): IterableIterator<unknown> {
    return this.#stmt.iterate(...toInputs(parameters));
  }
}

/** Adapts a `DatabaseSync` to the database shape Kysely's SQLite driver expects. */
export class NodeSqliteDatabase implements SqliteDatabase {
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, NodeSqliteStatement>();

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  prepare(sql: string): SqliteStatement {
    const cached = this.#statements.get(sql);
    if (cached !== undefined) return cached;
    const stmt = new NodeSqliteStatement(this.#db.prepare(sql));
    if (this.#statements.size >= STATEMENT_CACHE_LIMIT) {
      // Maps iterate in insertion order: drop the oldest entry.
      const oldest = this.#statements.keys().next();
      if (oldest.done !== true) this.#statements.delete(oldest.value);
    }
    this.#statements.set(sql, stmt);
    return stmt;
  }

  close(): void {
    this.#statements.clear();
    this.#db.close();
  }
}

/** Opens a SQLite database file (or `:memory:`) with the connection settings Airlock relies on. */
export function openSqlite(location: string): DatabaseSync {
  const db = new DatabaseSync(location);
  try {
    for (const pragma of PRAGMAS) db.exec(pragma);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/** A Kysely dialect on an open `node:sqlite` database; Kysely closes it on `destroy()`. */
export function nodeSqliteDialect(db: DatabaseSync): SqliteDialect {
  return new SqliteDialect({ database: new NodeSqliteDatabase(db) });
}

/**
 * Kysely hands parameters over as `unknown`; node:sqlite binds null, numbers, bigints, strings and
 * byte arrays. Booleans become 0/1 (the schema stores flags as integers); anything else is a bug in
 * a repository and is refused rather than stringified.
 */
function toInputs(parameters: ReadonlyArray<unknown>): SQLInputValue[] {
  return parameters.map((value): SQLInputValue => {
    if (value === null || typeof value === 'number' || typeof value === 'bigint' || typeof value === 'string') return value;
    if (typeof value === 'boolean') return value ? 1 : 0;
    if (value instanceof Uint8Array) return value;
    throw new TypeError(`cannot bind a ${typeof value} parameter to SQLite`);
  });
}
