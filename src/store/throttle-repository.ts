/** Login throttling state on Kysely: one row per key ('user:<name>' or 'addr:<ip>'). */
import type { Kysely, Selectable } from 'kysely';
import type { ThrottleRepository, ThrottleState, ThrottleWrite } from './repositories.ts';
import { toInt } from './row-values.ts';
import type { Database, ThrottleTable } from './schema.ts';

function toState(row: Selectable<ThrottleTable>): ThrottleState {
  return {
    key: row.key,
    failures: toInt(row.failures, 'throttle.failures'),
    firstFailureAt: toInt(row.first_failure_at, 'throttle.first_failure_at'),
    lockedUntil: toInt(row.locked_until, 'throttle.locked_until'),
  };
}

/** Thrown inside a transaction to roll it back when there is nothing to write. */
class NothingToWrite extends Error {}

/** The throttle repository over a Kysely database. */
export function throttleRepository(db: Kysely<Database>): ThrottleRepository {
  return {
    async get(key: string): Promise<ThrottleState | undefined> {
      const row = await db.selectFrom('throttle').selectAll().where('key', '=', key).executeTakeFirst();
      return row === undefined ? undefined : toState(row);
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

    async update(keys, change) {
      // Rows are locked in one global order (sorted keys), so two updates over overlapping keys
      // cannot deadlock on PostgreSQL.
      const order = [...new Set(keys)].sort();
      let before: Map<string, ThrottleState | undefined> = new Map();
      try {
        await db.transaction().execute(async (trx) => {
          before = new Map();
          for (const key of order) {
            // "Insert, or touch the existing row" locks the row whether or not it existed (PostgreSQL
            // takes the row lock for ON CONFLICT DO UPDATE; SQLite holds the write lock from here to
            // commit) and returns what is stored: a no-op update, so RETURNING shows the stored state.
            // A row created here only to be locked is deleted again below, or rolled back.
            const row = await trx
              .insertInto('throttle')
              .values({ key, failures: 0, first_failure_at: 0, locked_until: 0 })
              .onConflict((oc) => oc.column('key').doUpdateSet((eb) => ({ failures: eb.ref('throttle.failures') })))
              .returningAll()
              .executeTakeFirstOrThrow();
            const state = toState(row);
            before.set(key, state.failures === 0 && state.firstFailureAt === 0 && state.lockedUntil === 0 ? undefined : state);
          }
          const writes: ThrottleWrite[] | null = change(keys.map((k) => before.get(k)));
          if (writes === null) throw new NothingToWrite();
          const byKey = new Map(keys.map((k, i) => [k, writes[i] ?? null]));
          for (const key of order) {
            const w = byKey.get(key) ?? null;
            if (w === null) {
              await trx.deleteFrom('throttle').where('key', '=', key).execute();
            } else {
              await trx.updateTable('throttle').set({ failures: w.failures, first_failure_at: w.firstFailureAt, locked_until: w.lockedUntil }).where('key', '=', key).execute();
            }
          }
        });
      } catch (err) {
        if (!(err instanceof NothingToWrite)) throw err;
      }
      return keys.map((k) => before.get(k));
    },
  };
}
