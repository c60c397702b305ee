/** The node:sqlite adapter as Kysely's SQLite driver uses it: reads, writes, streams, bindings, close. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Kysely, sql } from 'kysely';
import { NodeSqliteDatabase, nodeSqliteDialect, openSqlite } from './sqlite-driver.ts';

interface T {
  items: { id: number; name: string; flag: number; data: Uint8Array | null };
}

function memoryDb(): Kysely<T> {
  return new Kysely<T>({ dialect: nodeSqliteDialect(openSqlite(':memory:')) });
}

async function withItems(run: (db: Kysely<T>) => Promise<void>): Promise<void> {
  const db = memoryDb();
  try {
    await sql`create table items (id integer primary key, name text not null, flag integer not null, data blob)`.execute(db);
    await run(db);
  } finally {
    await db.destroy();
  }
}

test('statements that return columns are readers; others are run', () => {
  const raw = openSqlite(':memory:');
  const db = new NodeSqliteDatabase(raw);
  try {
    raw.exec('create table t (x integer primary key, y text)');
    assert.equal(db.prepare('select 1').reader, true);
    assert.equal(db.prepare('insert into t (y) values (?)').reader, false);
    assert.equal(db.prepare('insert into t (y) values (?) returning x').reader, true);
    assert.equal(db.prepare('pragma journal_mode').reader, true);
    assert.deepEqual(db.prepare('insert into t (y) values (?)').run(['a']), { changes: 1, lastInsertRowid: 1 });
    assert.deepEqual(db.prepare('update t set y = ? where x > ?').run(['b', 0]), { changes: 1, lastInsertRowid: 1 });
    assert.deepEqual(db.prepare('select x, y from t').all([]).map((r) => ({ ...(r as object) })), [{ x: 1, y: 'b' }]);
  } finally {
    db.close();
  }
});

test('Kysely inserts, reads, updates and reports affected rows and insert ids', async () => {
  await withItems(async (db) => {
    const inserted = await db.insertInto('items').values({ id: 10, name: 'a', flag: 1, data: null }).executeTakeFirst();
    assert.equal(inserted.insertId, 10n);
    await db.insertInto('items').values([{ id: 11, name: 'b', flag: 0, data: new Uint8Array([1, 2, 3]) }, { id: 12, name: 'c', flag: 0, data: null }]).execute();
    const updated = await db.updateTable('items').set({ flag: 1 }).where('flag', '=', 0).executeTakeFirst();
    assert.equal(updated.numUpdatedRows, 2n);
    const rows = await db.selectFrom('items').selectAll().orderBy('id').execute();
    assert.deepEqual(rows.map((r) => [r.id, r.name, r.flag]), [[10, 'a', 1], [11, 'b', 1], [12, 'c', 1]]);
    assert.deepEqual([...(rows[1]!.data ?? [])], [1, 2, 3]);
    const returned = await db.deleteFrom('items').where('id', '>', 10).returning('name').execute();
    assert.deepEqual(returned.map((r) => r.name).sort(), ['b', 'c']);
  });
});

test('booleans bind as 0/1; values SQLite cannot hold are refused, not stringified', async () => {
  await withItems(async (db) => {
    await sql`insert into items (id, name, flag) values (${1}, ${'x'}, ${true})`.execute(db);
    assert.equal((await db.selectFrom('items').select('flag').executeTakeFirstOrThrow()).flag, 1);
    await assert.rejects(sql`select ${{ an: 'object' }}`.execute(db), TypeError);
    await assert.rejects(sql`select ${new Date(0)}`.execute(db), TypeError);
  });
});

test('select queries stream row by row', async () => {
  await withItems(async (db) => {
    for (let i = 0; i < 5; i++) await db.insertInto('items').values({ id: i, name: `n${i}`, flag: 0, data: null }).execute();
    const seen: number[] = [];
    for await (const row of db.selectFrom('items').select('id').orderBy('id').stream()) seen.push(row.id);
    assert.deepEqual(seen, [0, 1, 2, 3, 4]);
  });
});

test('a transaction that throws is rolled back', async () => {
  await withItems(async (db) => {
    await assert.rejects(db.transaction().execute(async (trx) => {
      await trx.insertInto('items').values({ id: 1, name: 'gone', flag: 0, data: null }).execute();
      throw new Error('abort');
    }), /abort/);
    assert.equal((await db.selectFrom('items').selectAll().execute()).length, 0);
  });
});

test('more distinct statements than the cache holds still run correctly', async () => {
  await withItems(async (db) => {
    for (let i = 0; i < 260; i++) {
      const row = (await sql.raw<{ v: number }>(`select ${i} as v`).execute(db)).rows[0];
      assert.equal(row?.v, i);
    }
    // The first statements were evicted and are prepared again.
    assert.equal((await sql.raw<{ v: number }>('select 0 as v').execute(db)).rows[0]?.v, 0);
  });
});

test('an integer beyond 2^53 is an error on read, never a rounded number', async () => {
  await withItems(async (db) => {
    await sql`insert into items (id, name, flag) values (1, 'big', ${2n ** 60n})`.execute(db);
    await assert.rejects(db.selectFrom('items').select('flag').execute(), { code: 'ERR_OUT_OF_RANGE' });
  });
});

test('after close, the database refuses work', () => {
  const db = new NodeSqliteDatabase(openSqlite(':memory:'));
  db.prepare('select 1');
  db.close();
  assert.throws(() => db.prepare('select 2'), /not open/);
});
