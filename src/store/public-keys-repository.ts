/** The key registry on Kysely: users' public keys, unique per (user, fingerprint). */
import { randomUUID } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import { AirlockError } from '../errors.ts';
import type { RegisteredKey } from '../inventory/ports.ts';
import { isUniqueViolation } from './db-errors.ts';
import type { NewPublicKeyRecord, PublicKeyRepository } from './repositories.ts';
import { toInt } from './row-values.ts';
import type { Database, PublicKeysTable } from './schema.ts';

type KeyRow = Selectable<PublicKeysTable> & { user_name: string };

/** Oldest first, ties by fingerprint, in code-unit order on both dialects. */
function byAge(a: RegisteredKey, b: RegisteredKey): number {
  return a.createdAt - b.createdAt || (a.fingerprint < b.fingerprint ? -1 : a.fingerprint > b.fingerprint ? 1 : 0);
}

/** The public-key repository over a Kysely database. */
export function publicKeysRepository(db: Kysely<Database>): PublicKeyRepository {
  const selectKeys = () =>
    db.selectFrom('public_keys').innerJoin('users', 'users.id', 'public_keys.user_id').selectAll('public_keys').select('users.name as user_name');

  return {
    async create(key: NewPublicKeyRecord, now: number): Promise<RegisteredKey> {
      const row: Selectable<PublicKeysTable> = {
        id: randomUUID(),
        user_id: key.userId,
        type: key.type,
        bits: key.bits,
        fingerprint: key.fingerprint,
        public_key: key.publicKey,
        comment: key.comment,
        created_at: now,
      };
      try {
        await db.insertInto('public_keys').values(row).execute();
      } catch (err) {
        if (isUniqueViolation(err)) throw new AirlockError('conflict', `the key ${key.fingerprint} is already registered`, { cause: err });
        throw err;
      }
      const stored = await selectKeys().where('public_keys.id', '=', row.id).executeTakeFirst();
      // Only a concurrent removal of the key (or its user) can get here.
      if (stored === undefined) throw new AirlockError('not_found', `the key ${key.fingerprint} was removed while it was being added`);
      return toKey(stored);
    },

    async byUserAndFingerprint(userId: string, fingerprint: string): Promise<RegisteredKey | undefined> {
      const row = await selectKeys().where('public_keys.user_id', '=', userId).where('public_keys.fingerprint', '=', fingerprint).executeTakeFirst();
      return row === undefined ? undefined : toKey(row);
    },

    async listByUser(userId: string): Promise<RegisteredKey[]> {
      return (await selectKeys().where('public_keys.user_id', '=', userId).execute()).map(toKey).sort(byAge);
    },

    async countByUser(userId: string): Promise<number> {
      const row = await db.selectFrom('public_keys').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', userId).executeTakeFirstOrThrow();
      return toInt(Number(row.n), 'count of public keys');
    },

    async remove(userId: string, fingerprint: string): Promise<boolean> {
      const result = await db.deleteFrom('public_keys').where('user_id', '=', userId).where('fingerprint', '=', fingerprint).executeTakeFirst();
      return result.numDeletedRows > 0n;
    },

    async listForProject(projectId: string): Promise<RegisteredKey[]> {
      const rows = await selectKeys()
        .innerJoin('project_members', 'project_members.user_id', 'public_keys.user_id')
        .where('project_members.project_id', '=', projectId)
        // A disabled account must not reach new VMs through keys exported after it was disabled.
        .where('users.disabled', '=', 0)
        .execute();
      return rows.map(toKey).sort((a, b) => (a.userName < b.userName ? -1 : a.userName > b.userName ? 1 : byAge(a, b)));
    },
  };
}

function toKey(row: KeyRow): RegisteredKey {
  return {
    id: row.id,
    userId: row.user_id,
    userName: row.user_name,
    type: row.type,
    bits: toInt(row.bits, 'public_keys.bits'),
    fingerprint: row.fingerprint,
    publicKey: row.public_key,
    comment: row.comment,
    createdAt: toInt(row.created_at, 'public_keys.created_at'),
  };
}
