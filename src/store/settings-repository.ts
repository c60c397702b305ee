/** Key-value settings on Kysely; `increment` is a single upsert so counters never lose an update. */
import { sql, type Kysely } from 'kysely';
import { AirlockError } from '../errors.ts';
import type { SettingsRepository } from './repositories.ts';
import type { Database } from './schema.ts';

/** The settings repository over a Kysely database. */
export function settingsRepository(db: Kysely<Database>): SettingsRepository {
  return {
    async get(key: string): Promise<string | undefined> {
      const row = await db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst();
      return row?.value;
    },

    async getMany(keys: readonly string[]): Promise<Map<string, string>> {
      if (keys.length === 0) return new Map();
      const rows = await db.selectFrom('settings').select(['key', 'value']).where('key', 'in', [...keys]).execute();
      return new Map(rows.map((r) => [r.key, r.value]));
    },

    async set(key: string, value: string): Promise<void> {
      await db
        .insertInto('settings')
        .values({ key, value })
        .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
        .execute();
    },

    async increment(key: string): Promise<number> {
      // INSERT … ON CONFLICT DO UPDATE … RETURNING is one atomic statement on both dialects; a
      // read-add-write in JavaScript would hand the same value to two concurrent callers.
      const row = await db
        .insertInto('settings')
        .values({ key, value: '1' })
        .onConflict((oc) => oc.column('key').doUpdateSet({ value: sql<string>`cast(cast(settings.value as bigint) + 1 as text)` }))
        .returning('value')
        .executeTakeFirstOrThrow();
      const value = Number(row.value);
      if (!Number.isSafeInteger(value)) throw new AirlockError('internal', `the setting ${key} is not an integer counter`);
      return value;
    },
  };
}
