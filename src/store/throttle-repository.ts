/** Login throttling state on Kysely: one row per key ('user:<name>' or 'addr:<ip>'). */
import type { Kysely } from 'kysely';
import type { ThrottleRepository, ThrottleState } from './repositories.ts';
import { toInt } from './row-values.ts';
import type { Database } from './schema.ts';

/** The throttle repository over a Kysely database. */
export function throttleRepository(db: Kysely<Database>): ThrottleRepository {
  return {
    async get(key: string): Promise<ThrottleState | undefined> {
      const row = await db.selectFrom('throttle').selectAll().where('key', '=', key).executeTakeFirst();
      if (row === undefined) return undefined;
      return {
        key: row.key,
        failures: toInt(row.failures, 'throttle.failures'),
        firstFailureAt: toInt(row.first_failure_at, 'throttle.first_failure_at'),
        lockedUntil: toInt(row.locked_until, 'throttle.locked_until'),
      };
    },

    async put(state: ThrottleState): Promise<void> {
      const values = { failures: state.failures, first_failure_at: state.firstFailureAt, locked_until: state.lockedUntil };
      await db
        .insertInto('throttle')
        .values({ key: state.key, ...values })
        .onConflict((oc) => oc.column('key').doUpdateSet(values))
        .execute();
    },

    async clear(key: string): Promise<void> {
      await db.deleteFrom('throttle').where('key', '=', key).execute();
    },
  };
}
