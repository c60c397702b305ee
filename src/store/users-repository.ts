/** Users on Kysely: one row per account; flags as 0/1, principal lists as JSON text. */
import { randomUUID } from 'node:crypto';
import type { Kysely, Selectable, Updateable } from 'kysely';
import { AirlockError } from '../errors.ts';
import { isUniqueViolation } from './db-errors.ts';
import type { NewUser, User, UserRepository } from './repositories.ts';
import { fromBool, toBool, toInt, toStringArray } from './row-values.ts';
import type { Database, UsersTable } from './schema.ts';

/** The user repository over a Kysely database. */
export function usersRepository(db: Kysely<Database>): UserRepository {
  return {
    async create(user: NewUser, now: number): Promise<User> {
      const row: Selectable<UsersTable> = {
        id: randomUUID(),
        name: user.name,
        email: user.email,
        is_admin: fromBool(user.isAdmin),
        disabled: 0,
        password_hash: user.passwordHash,
        totp_secret: user.totpSecret,
        source_cidrs: JSON.stringify(user.sourceCidrs ?? []),
        extra_principals: JSON.stringify(user.extraPrincipals ?? []),
        created_at: now,
      };
      try {
        await db.insertInto('users').values(row).execute();
      } catch (err) {
        // The unique index on users.name decides, so two concurrent creations cannot both succeed.
        if (isUniqueViolation(err)) throw new AirlockError('conflict', `a user named ${user.name} already exists`, { cause: err });
        throw err;
      }
      return toUser(row);
    },

    async byName(name: string): Promise<User | undefined> {
      const row = await db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
      return row === undefined ? undefined : toUser(row);
    },

    async byId(id: string): Promise<User | undefined> {
      const row = await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
      return row === undefined ? undefined : toUser(row);
    },

    async list(): Promise<User[]> {
      const rows = await db.selectFrom('users').selectAll().orderBy('name').execute();
      return rows.map(toUser);
    },

    async setDisabled(name: string, disabled: boolean): Promise<boolean> {
      const result = await db.updateTable('users').set({ disabled: fromBool(disabled) }).where('name', '=', name).executeTakeFirst();
      return result.numUpdatedRows > 0n;
    },

    async update(id, patch): Promise<void> {
      const set: Updateable<UsersTable> = {};
      if (patch.email !== undefined) set.email = patch.email;
      if (patch.isAdmin !== undefined) set.is_admin = fromBool(patch.isAdmin);
      if (patch.passwordHash !== undefined) set.password_hash = patch.passwordHash;
      if (patch.totpSecret !== undefined) set.totp_secret = patch.totpSecret;
      if (patch.sourceCidrs !== undefined) set.source_cidrs = JSON.stringify(patch.sourceCidrs);
      if (patch.extraPrincipals !== undefined) set.extra_principals = JSON.stringify(patch.extraPrincipals);
      const query = Object.keys(set).length === 0
        ? db.selectFrom('users').select('id').where('id', '=', id)
        : db.updateTable('users').set(set).where('id', '=', id).returning('id');
      // A patch for a user that does not exist is a caller's mistake worth hearing about, not a no-op.
      if ((await query.executeTakeFirst()) === undefined) throw new AirlockError('not_found', 'no such user');
    },
  };
}

/** A users row as a User. */
export function toUser(row: Selectable<UsersTable>): User {
  return {
    id: row.id,
    name: row.name,
    email: row.email,
    isAdmin: toBool(row.is_admin, 'users.is_admin'),
    disabled: toBool(row.disabled, 'users.disabled'),
    passwordHash: row.password_hash,
    totpSecret: row.totp_secret,
    sourceCidrs: toStringArray(row.source_cidrs, 'users.source_cidrs'),
    extraPrincipals: toStringArray(row.extra_principals, 'users.extra_principals'),
    createdAt: toInt(row.created_at, 'users.created_at'),
  };
}
