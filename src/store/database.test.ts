/**
 * Opening and migrating: URL handling, file modes, SQLite settings, the PostgreSQL int8 parser, and
 * migrations that are idempotent, safe when two processes start together, and atomic on failure.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { sql, type Kysely } from 'kysely';
import { isAirlockError } from '../errors.ts';
import { POSTGRES_SKIP_REASON, withTestDatabase, type TestDatabase } from '../../test/harness/postgres.ts';
import { openDatabase, SQLITE_FILE_NAME, type OpenedDatabase } from './database.ts';
import { createStore } from './kysely-store.ts';
import { migrateToLatest } from './migrate.ts';
import { migrationProvider } from './migrations/index.ts';
import type { Database } from './schema.ts';

const run = promisify(execFile);

let tmp: string;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'airlock-db-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** Every migration name, in order: what a fresh database gets (the list grows as others add migrations). */
const ALL_MIGRATIONS = Object.keys(await migrationProvider('sqlite').getMigrations()).sort();

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

async function tableNames(db: Kysely<Database>): Promise<string[]> {
  return (await db.introspection.getTables({ withInternalKyselyTables: true })).map((t) => t.name).sort();
}

// Every test works on its own directory or database, so they run concurrently to keep the suite short.
describe('opening and migrating', { concurrency: true }, () => {
  describe('choosing the database', { concurrency: true }, () => {
    test('no URL (or an empty one) opens <dataDir>/airlock.db', async () => {
      for (const url of [undefined, '', '  ']) {
        const dataDir = join(tmp, `plain-${String(url?.length)}`);
        const { db, dialect } = await openDatabase({ url, dataDir });
        assert.equal(dialect, 'sqlite');
        await sql`select 1`.execute(db);
        await db.destroy();
        assert.ok((await readdir(dataDir)).includes(SQLITE_FILE_NAME));
      }
    });

    test('sqlite::memory: is in memory and leaves the data directory alone', async () => {
      const dataDir = join(tmp, 'memory');
      const store = await createStore({ url: 'sqlite::memory:', dataDir });
      await store.settings.set('k', 'v');
      assert.equal(await store.settings.get('k'), 'v');
      await store.close();
      await assert.rejects(stat(dataDir), { code: 'ENOENT' });
    });

    test('an unknown URL is a configuration error, not a silent fallback to SQLite', async () => {
      for (const url of ['mysql://root@localhost/airlock', 'sqlite:/tmp/airlock.db', 'postgres:/missing-slashes', 'file:airlock.db']) {
        await assert.rejects(openDatabase({ url, dataDir: join(tmp, 'unused') }), (err) => isAirlockError(err, 'config'), url);
      }
    });
  });

  describe('SQLite file', { concurrency: true }, () => {
    test('the data directory is created 0700 and the database, WAL and SHM files are 0600', async () => {
      const dataDir = join(tmp, 'nested', 'data');
      const store = await createStore({ dataDir });
      await store.settings.set('written', 'so the WAL exists');
      assert.equal(await mode(dataDir), 0o700);
      assert.equal(await mode(join(tmp, 'nested')), 0o700);
      for (const name of [SQLITE_FILE_NAME, `${SQLITE_FILE_NAME}-wal`, `${SQLITE_FILE_NAME}-shm`]) {
        assert.equal(await mode(join(dataDir, name)), 0o600, name);
      }
      await store.close();
    });

    test('an existing database file readable by others is tightened to 0600', async () => {
      const dataDir = join(tmp, 'loose');
      const first = await createStore({ dataDir });
      await first.close();
      const file = join(dataDir, SQLITE_FILE_NAME);
      await chmod(file, 0o644);
      const again = await createStore({ dataDir });
      assert.equal(await mode(file), 0o600);
      await again.close();
    });

    test('connection settings: WAL, busy timeout, foreign keys, synchronous NORMAL', async () => {
      const { db } = await openDatabase({ dataDir: join(tmp, 'pragmas') });
      const pragma = async (name: string): Promise<unknown> => Object.values((await sql.raw<Record<string, unknown>>(`pragma ${name}`).execute(db)).rows[0]!)[0];
      assert.equal(await pragma('journal_mode'), 'wal');
      assert.equal(await pragma('busy_timeout'), 5000);
      assert.equal(await pragma('foreign_keys'), 1);
      assert.equal(await pragma('synchronous'), 1); // NORMAL
      await db.destroy();
    });

    test('a file that is not a database is refused', async () => {
      const dataDir = join(tmp, 'garbage');
      await mkdir(dataDir, { mode: 0o700 });
      await writeFile(join(dataDir, SQLITE_FILE_NAME), 'this is not an SQLite database, just text long enough to have a header '.repeat(10), { mode: 0o600 });
      await assert.rejects(createStore({ dataDir }));
    });
  });

  // The same migration behaviours on both dialects.
  const targets: { dialect: 'sqlite' | 'postgres'; skip: string | undefined; open: () => Promise<{ opened: () => Promise<OpenedDatabase>; drop: () => Promise<void> }> }[] = [
    {
      dialect: 'sqlite',
      skip: undefined,
      open: async () => {
        const dataDir = await mkdtemp(join(tmp, 'migrate-'));
        return { opened: () => openDatabase({ dataDir }), drop: () => rm(dataDir, { recursive: true, force: true }) };
      },
    },
    {
      dialect: 'postgres',
      skip: POSTGRES_SKIP_REASON,
      open: async () => {
        const testDb: TestDatabase | null = await withTestDatabase();
        assert.ok(testDb);
        return { opened: () => openDatabase({ url: testDb.url, dataDir: '/nonexistent' }), drop: () => testDb.drop() };
      },
    },
  ];

  for (const target of targets) {
    describe(`migrations on ${target.dialect}`, { skip: target.skip, concurrency: true }, () => {
      test('migrateToLatest is idempotent', async () => {
        const fresh = await target.open();
        const { db, dialect } = await fresh.opened();
        try {
          assert.deepEqual(await migrateToLatest(db, dialect), ALL_MIGRATIONS);
          assert.deepEqual(await migrateToLatest(db, dialect), []);
          const tables = await tableNames(db);
          for (const t of ['users', 'recovery_codes', 'totp_used', 'throttle', 'tokens', 'certificates', 'settings', 'audit_events']) assert.ok(tables.includes(t), t);
        } finally {
          await db.destroy();
          await fresh.drop();
        }
      });

      test('a database migrated by a newer Airlock is refused', async () => {
        const fresh = await target.open();
        const { db, dialect } = await fresh.opened();
        try {
          await migrateToLatest(db, dialect);
          await sql`insert into kysely_migration (name, timestamp) values ('9999_future', '2099-01-01T00:00:00.000Z')`.execute(db);
          await assert.rejects(migrateToLatest(db, dialect), (err) => isAirlockError(err, 'unavailable'));
        } finally {
          await db.destroy();
          await fresh.drop();
        }
      });

      test('a migration that fails halfway leaves nothing behind', async () => {
        const fresh = await target.open();
        const { db, dialect } = await fresh.opened();
        try {
          // A stray table makes 0001 fail after it has created users, recovery_codes, totp_used, ….
          await db.schema.createTable('settings').addColumn('x', 'text').execute();
          await assert.rejects(migrateToLatest(db, dialect), (err) => isAirlockError(err, 'unavailable') && err.message.includes('0001_initial'));
          const tables = await tableNames(db);
          assert.ok(!tables.includes('users') && !tables.includes('audit_events'), `left behind: ${tables.join(', ')}`);
        } finally {
          await db.destroy();
          await fresh.drop();
        }
      });
    });
  }

  describe('concurrent migrations', { concurrency: true }, () => {
    test('two processes migrating one fresh SQLite file both succeed, and each migration runs once', async () => {
      const dataDir = await mkdtemp(join(tmp, 'race-'));
      const here = (file: string): string => pathToFileURL(join(import.meta.dirname, file)).href;
      const script = `
        import { openDatabase } from ${JSON.stringify(here('database.ts'))};
        import { migrateToLatest } from ${JSON.stringify(here('migrate.ts'))};
        const { db, dialect } = await openDatabase({ dataDir: ${JSON.stringify(dataDir)} });
        try { console.log(JSON.stringify(await migrateToLatest(db, dialect))); } finally { await db.destroy(); }`;
      const outputs = await Promise.all([0, 1].map(() => run(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 })));
      const applied = outputs.map((o) => JSON.parse(o.stdout) as string[]).sort((a, b) => a.length - b.length);
      assert.deepEqual(applied, [[], ALL_MIGRATIONS]);
      for (const o of outputs) assert.equal(o.stderr, '', 'no warnings (node:sqlite prints no ExperimentalWarning on the pinned Node)');
    });

    test('two replicas migrating one fresh PostgreSQL database both succeed, and each migration runs once', { skip: POSTGRES_SKIP_REASON }, async () => {
      const testDb = (await withTestDatabase())!;
      const a = await openDatabase({ url: testDb.url, dataDir: '/nonexistent' });
      const b = await openDatabase({ url: testDb.url, dataDir: '/nonexistent' });
      try {
        const applied = (await Promise.all([migrateToLatest(a.db, a.dialect), migrateToLatest(b.db, b.dialect)])).sort((x, y) => x.length - y.length);
        assert.deepEqual(applied, [[], ALL_MIGRATIONS]);
      } finally {
        await a.db.destroy();
        await b.db.destroy();
        await testDb.drop();
      }
    });
  });

  describe('PostgreSQL values', { skip: POSTGRES_SKIP_REASON }, () => {
    test('int8 and count(*) arrive as numbers; an int8 beyond 2^53 stays a string instead of rounding', async () => {
      const testDb = (await withTestDatabase())!;
      const { db } = await openDatabase({ url: testDb.url, dataDir: '/nonexistent' });
      try {
        const row = (await sql<Record<string, unknown>>`select 1750000000000::int8 as ms, 9007199254740993::int8 as big, (select count(*) from pg_class where false) as n, 7::int4 as small`.execute(db)).rows[0]!;
        assert.deepEqual(row, { ms: 1_750_000_000_000, big: '9007199254740993', n: 0, small: 7 });
      } finally {
        await db.destroy();
        await testDb.drop();
      }
    });
  });
});
