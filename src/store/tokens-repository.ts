/** Bearer tokens on Kysely: only the SHA-256 of each secret is stored, looked up by its unique index. */
import { sql, type Kysely, type Selectable } from 'kysely';
import { AirlockError } from '../errors.ts';
import { CompiledQueries } from './compiled-queries.ts';
import type { SqlDialect } from './database.ts';
import { isUniqueViolation } from './db-errors.ts';
import { groupCommit } from './group-commit.ts';
import type { Token, TokenRepository, User } from './repositories.ts';
import { toUser } from './users-repository.ts';
import { toInt, toIntOrNull, toOneOf, toStringArray } from './row-values.ts';
import type { Database, TokensTable } from './schema.ts';

const KINDS = ['session', 'api'] as const;

/** Token uses recorded together (one transaction on SQLite, one statement on PostgreSQL). */
const MAX_TOUCH_BATCH = 256;

/** The token repository over a Kysely database. */
export function tokensRepository(db: Kysely<Database>, dialect: SqlDialect): TokenRepository {
  const queries = new CompiledQueries();
  const touchOne = async (q: Kysely<Database>, id: string, now: number): Promise<void> => {
    await queries.execute(q, 'tokens.touch', [now, id], () => q.updateTable('tokens').set({ last_used_at: now }).where('id', '=', id));
  };
  // A token's first use in a minute comes with most API calls (an issuance among them): uses recorded
  // at the same time are written together (group-commit.ts). On SQLite every commit is a WAL write:
  // one transaction for them. On PostgreSQL every statement is a round trip: one statement for them,
  // joining the ids and times passed as two arrays (a token named twice gets one of its times).
  const touchTogether = groupCommit<{ id: string; now: number }, void>(async (items) => {
    if (dialect === 'postgres') {
      await sql`update tokens set last_used_at = used.at from unnest(${items.map((i) => i.id)}::text[], ${items.map((i) => i.now)}::bigint[]) as used(id, at) where tokens.id = used.id`.execute(db);
    } else {
      await db.transaction().execute(async (trx) => {
        for (const { id, now } of items) await touchOne(trx, id, now);
      });
    }
    return items.map(() => ({ ok: true, value: undefined }));
  }, { maxBatch: MAX_TOUCH_BATCH });
  return {
    async create(token: Omit<Token, 'lastUsedAt'>): Promise<void> {
      try {
        await db
          .insertInto('tokens')
          .values({
            id: token.id,
            token_hash: token.tokenHash,
            user_id: token.userId,
            kind: token.kind,
            scopes: JSON.stringify(token.scopes),
            created_at: token.createdAt,
            expires_at: token.expiresAt,
            last_used_at: null,
          })
          .execute();
      } catch (err) {
        if (isUniqueViolation(err)) throw new AirlockError('conflict', 'a token with this id or secret already exists', { cause: err });
        throw err;
      }
    },

    async byHashWithUser(tokenHash: string): Promise<{ token: Token; user: User } | undefined> {
      // The user's columns as they are, the token's under their own names where the two tables share one.
      // Compiled once (compiled-queries.ts): building this join costs Kysely ~12 µs, on every cache miss.
      const [row] = await queries.execute(db, 'tokens.by_hash_with_user', [tokenHash], () =>
        db
          .selectFrom('tokens')
          .innerJoin('users', 'users.id', 'tokens.user_id')
          .selectAll('users')
          .select(['tokens.id as token_id', 'tokens.token_hash', 'tokens.user_id', 'tokens.kind', 'tokens.scopes', 'tokens.created_at as token_created_at', 'tokens.expires_at', 'tokens.last_used_at'])
          // cast(? as text), not a bare ?: SQLite 3.54 (Node 26.12's) re-prepares a join whose WHERE
          // compares a column with a bare bound parameter on every run, as if the value could change the
          // plan (perf of `npm run bench:ca` found sqlite3Reprepare under this statement; run in a loop
          // on a copy of the benchmark's database it took 22 µs, 6.5 µs with the cast, the same plan).
          // A cast of a text parameter to text changes nothing else, on PostgreSQL either.
          .where('tokens.token_hash', '=', sql<string>`cast(${tokenHash} as text)`),
      );
      if (row === undefined) return undefined;
      const { token_id, token_hash, user_id, kind, scopes, token_created_at, expires_at, last_used_at, ...user } = row;
      return {
        token: toToken({ id: token_id, token_hash, user_id, kind, scopes, created_at: token_created_at, expires_at, last_used_at }),
        user: toUser(user),
      };
    },

    touch(id: string, now: number): Promise<void> {
      return touchTogether({ id, now });
    },

    async revoke(id: string): Promise<void> {
      await db.deleteFrom('tokens').where('id', '=', id).execute();
    },

    async revokeAllOfUser(userId: string): Promise<number> {
      const result = await db.deleteFrom('tokens').where('user_id', '=', userId).executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    async pruneExpired(now: number): Promise<void> {
      await db.deleteFrom('tokens').where('expires_at', '<=', now).execute();
    },

    async listByUser(userId: string, now: number): Promise<Token[]> {
      const rows = await db.selectFrom('tokens').selectAll().where('user_id', '=', userId).where('expires_at', '>', now).orderBy('created_at', 'desc').execute();
      return rows.map(toToken);
    },
  };
}

function toToken(row: Selectable<TokensTable>): Token {
  return {
    id: row.id,
    tokenHash: row.token_hash,
    userId: row.user_id,
    kind: toOneOf(row.kind, KINDS, 'tokens.kind'),
    scopes: toStringArray(row.scopes, 'tokens.scopes'),
    createdAt: toInt(row.created_at, 'tokens.created_at'),
    expiresAt: toInt(row.expires_at, 'tokens.expires_at'),
    lastUsedAt: toIntOrNull(row.last_used_at, 'tokens.last_used_at'),
  };
}
