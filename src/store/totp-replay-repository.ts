/** Used TOTP steps on Kysely: the primary key (user_id, step) is the replay check (RFC 6238 §5.2). */
import type { Kysely } from 'kysely';
import { isUniqueViolation } from './db-errors.ts';
import type { TotpReplayRepository } from './repositories.ts';
import type { Database } from './schema.ts';

/** The TOTP replay repository over a Kysely database. */
export function totpReplayRepository(db: Kysely<Database>): TotpReplayRepository {
  return {
    async markUsed(userId: string, step: number, now: number): Promise<boolean> {
      // Insert and let the primary key refuse a second use: a read-then-write check would let two
      // concurrent logins (or two replicas) both accept the same code.
      try {
        await db.insertInto('totp_used').values({ user_id: userId, step, used_at: now }).execute();
        return true;
      } catch (err) {
        if (isUniqueViolation(err)) return false;
        throw err;
      }
    },

    async prune(before: number): Promise<void> {
      await db.deleteFrom('totp_used').where('used_at', '<', before).execute();
    },
  };
}
