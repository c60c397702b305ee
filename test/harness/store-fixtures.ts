/**
 * A migrated store on each dialect, for suites that run every repository behaviour against both:
 * SQLite in a temporary file, and PostgreSQL in a fresh database (skipped without AIRLOCK_TEST_DATABASE_URL).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { POSTGRES_SKIP_REASON, withTestDatabase } from './postgres.ts';
import { openDatabase, type SqlDialect } from '../../src/store/database.ts';
import { storeOn } from '../../src/store/kysely-store.ts';
import { migrateToLatest } from '../../src/store/migrate.ts';
import type { Store } from '../../src/store/repositories.ts';
import type { Database } from '../../src/store/schema.ts';

export interface StoreFixture {
  store: Store;
  db: Kysely<Database>;
  cleanup(): Promise<void>;
}

async function sqliteFixture(): Promise<StoreFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'airlock-store-'));
  const opened = await openDatabase({ dataDir: join(dir, 'data') });
  const { db, dialect } = opened;
  await migrateToLatest(db, dialect);
  const store = storeOn(opened);
  return { store, db, cleanup: async () => { await store.close(); await rm(dir, { recursive: true, force: true }); } };
}

async function postgresFixture(): Promise<StoreFixture> {
  const testDb = await withTestDatabase();
  assert.ok(testDb, 'AIRLOCK_TEST_DATABASE_URL is set');
  const opened = await openDatabase({ url: testDb.url, dataDir: '/nonexistent' });
  const { db, dialect } = opened;
  await migrateToLatest(db, dialect);
  const store = storeOn(opened);
  return { store, db, cleanup: async () => { await store.close(); await testDb.drop(); } };
}

/** Both dialects, each with its skip reason (undefined = runs) and a way to open a fresh migrated store. */
export const STORE_DIALECTS: { dialect: SqlDialect; skip: string | undefined; open: () => Promise<StoreFixture> }[] = [
  { dialect: 'sqlite', skip: undefined, open: sqliteFixture },
  { dialect: 'postgres', skip: POSTGRES_SKIP_REASON, open: postgresFixture },
];
