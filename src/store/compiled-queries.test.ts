/** Compiled-query reuse: one compilation per shape, new values bound each time, a parameter list that is not Kysely's refused. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CompiledQueries, insertParameters } from './compiled-queries.ts';
import { STORE_DIALECTS } from '../../test/harness/store-fixtures.ts';

test('insertParameters lists rows in key order and refuses rows Kysely would compile differently', () => {
  assert.deepEqual(insertParameters([{ a: 1, b: null }, { a: 2, b: 'x' }]), [1, null, 2, 'x']);
  assert.deepEqual(insertParameters([]), []);
  assert.throws(() => insertParameters([{ a: 1, b: 2 }, { b: 2, a: 1 }]), /missing or undefined/);
  assert.throws(() => insertParameters([{ a: 1, b: undefined }]), /missing or undefined/);
  assert.throws(() => insertParameters([{ a: 1, b: 2 }, { a: 1 }]), /different shapes/);
});

for (const { dialect, skip, open } of STORE_DIALECTS) {
  test(`compiled once per shape, each call binds its own values (${dialect})`, { skip }, async () => {
    const fx = await open();
    try {
      const queries = new CompiledQueries();
      let builds = 0;
      const insert = (rows: { key: string; value: string }[]) =>
        queries.execute(fx.db, `settings.insert:${rows.length}`, insertParameters(rows), () => {
          builds++;
          return fx.db.insertInto('settings').values(rows);
        });
      await insert([{ key: 'a', value: '1' }, { key: 'b', value: '2' }]);
      await insert([{ key: 'c', value: '3' }, { key: 'd', value: '4' }]);
      await insert([{ key: 'e', value: '5' }]);
      assert.equal(builds, 2, 'one build per row count');
      const select = async (keys: string[]) => {
        const rows = await queries.execute(fx.db, `settings.select:${keys.length}`, keys, () => fx.db.selectFrom('settings').select(['key', 'value']).where('key', 'in', keys).orderBy('key'));
        return rows.map((r) => ({ ...r }));
      };
      assert.deepEqual(await select(['a', 'd']), [{ key: 'a', value: '1' }, { key: 'd', value: '4' }]);
      assert.deepEqual(await select(['c', 'z']), [{ key: 'c', value: '3' }]);
      // A parameter list that differs from what Kysely binds is refused before anything runs.
      await assert.rejects(queries.execute(fx.db, 'settings.wrong', ['x', 'y'], () => fx.db.insertInto('settings').values({ key: 'y', value: 'x' })), /not the ones Kysely bound/);
      assert.equal((await fx.db.selectFrom('settings').select('key').where('key', '=', 'y').execute()).length, 0);
    } finally {
      await fx.cleanup();
    }
  });
}
