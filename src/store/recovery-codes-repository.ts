/** Recovery codes on Kysely: hashes only; using one is a single conditional UPDATE. */
import type { Kysely } from 'kysely';
import type { RecoveryCodeRepository } from './repositories.ts';
import { toInt } from './row-values.ts';
import type { Database } from './schema.ts';

/** The recovery-code repository over a Kysely database. */
export function recoveryCodesRepository(db: Kysely<Database>): RecoveryCodeRepository {
  return {
    async replace(userId: string, codeHashes: string[]): Promise<void> {
      // One transaction: a crash between delete and insert must not leave the user without codes.
      await db.transaction().execute(async (trx) => {
        await trx.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
        if (codeHashes.length > 0) {
          await trx
            .insertInto('recovery_codes')
            .values(codeHashes.map((codeHash) => ({ user_id: userId, code_hash: codeHash, used_at: null })))
            .execute();
        }
      });
    },

    async consume(userId: string, codeHash: string, now: number): Promise<boolean> {
      // The database decides: of two concurrent uses of one code, only one UPDATE finds used_at
      // still NULL (PostgreSQL re-checks the WHERE after the row lock; SQLite serialises writers).
      const result = await db
        .updateTable('recovery_codes')
        .set({ used_at: now })
        .where('user_id', '=', userId)
        .where('code_hash', '=', codeHash)
        .where('used_at', 'is', null)
        .executeTakeFirst();
      return result.numUpdatedRows === 1n;
    },

    async remaining(userId: string): Promise<number> {
      const row = await db
        .selectFrom('recovery_codes')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('user_id', '=', userId)
        .where('used_at', 'is', null)
        .executeTakeFirstOrThrow();
      return toInt(row.n, 'recovery code count');
    },
  };
}
