/**
 * Issued certificates on Kysely. Serials are stored as decimal text so the whole uint64 range
 * survives both dialects; revocation is a conditional UPDATE, so a certificate is revoked once, and it
 * raises the KRL version in the same transaction: no reader ever sees a revocation under the old
 * version (a node that caches by version would keep a stale list) or a new version without it.
 */
import { CompiledQuery, sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import pg from 'pg';
import { AirlockError } from '../errors.ts';
import { auditEventRow, insertAuditEvents } from './audit-repository.ts';
import { CompiledQueries, insertParameters } from './compiled-queries.ts';
import { isUniqueViolation } from './db-errors.ts';
import { groupCommit, type BatchOutcome } from './group-commit.ts';
import { SESSION_CERT_METHOD, type AuditEvent, type CertificateRecord, type CertificateRepository } from './repositories.ts';
import { fromSerial, toInt, toIntOrNull, toOneOf, toSerial, toStringArray } from './row-values.ts';
import type { CertificatesTable, Database } from './schema.ts';
import type { SqlDialect } from './database.ts';

const CERT_TYPES = ['user', 'host'] as const;

/** The settings key of the KRL version, raised with every revocation. */
export const KRL_VERSION_SETTING = 'krl_version';

/** Raises the KRL version inside `trx` (one atomic upsert) and returns the new value. */
async function bumpKrlVersion(trx: Transaction<Database>): Promise<number> {
  const row = await trx
    .insertInto('settings')
    .values({ key: KRL_VERSION_SETTING, value: '1' })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value: sql<string>`cast(cast(settings.value as bigint) + 1 as text)` }))
    .returning('value')
    .executeTakeFirstOrThrow();
  const value = Number(row.value);
  if (!Number.isSafeInteger(value)) throw new AirlockError('internal', 'the KRL version is not an integer counter');
  return value;
}

/** Issue times of a user's unrevoked user certificates issued at or after `since`, oldest first; with `limit`, the newest `limit`. */
async function unrevokedIssuedSince(db: Kysely<Database> | Transaction<Database>, userId: string, since: number, limit?: number): Promise<number[]> {
  // Newest first with a limit: the quota only needs the last `limit` issue times, and listing a
  // day's worth for a heavy user would make every issuance slower than the last. Revoked
  // certificates free their slot (CSCS: "until … keys are revoked").
  let query = db
    .selectFrom('certificates')
    .select('issued_at')
    .where('user_id', '=', userId)
    .where('cert_type', '=', 'user')
    .where('method', '!=', SESSION_CERT_METHOD)
    .where('issued_at', '>=', since)
    .where('revoked_at', 'is', null)
    .orderBy('issued_at', 'desc');
  if (limit !== undefined) query = query.limit(limit);
  const rows = await query.execute();
  return rows.map((row) => toInt(row.issued_at, 'certificates.issued_at')).reverse();
}

type QuotaCheck = { since: number; limit: number; check: (issuedAt: number[]) => void };
type QuotaInsert = { record: CertificateRecord; quota: QuotaCheck; event: AuditEvent | undefined };

/** Rows per group-committed transaction (15 parameters a row: far below both dialects' limits). */
const MAX_BATCH = 128;

/**
 * Stores the certificates whose user's quota still allows them, with their audit events, in one
 * transaction; refuses the others one by one (their events are not stored: the caller audits the
 * refusal). On PostgreSQL the users' rows are locked first, in id order (so that two replicas'
 * batches never wait on each other in a cycle): that lock serialises every replica's check-and-insert
 * for a user (READ COMMITTED would otherwise let two replicas count the same four certificates and
 * both insert a fifth). SQLite has no row locks and needs none: one writer at a
 * time, and Kysely's driver runs one transaction at a time on its single connection.
 */
async function insertBatchWithinQuota(db: Kysely<Database>, dialect: SqlDialect, pool: pg.Pool | undefined, queries: CompiledQueries, items: QuotaInsert[]): Promise<BatchOutcome<void>[]> {
  const userIds = [...new Set(items.map((i) => i.record.userId))].sort();
  const since = Math.min(...items.map((i) => i.quota.since));
  // Compiled from `db` for both dialects: the text is the same inside a transaction.
  const quotaQuery = queries.compile(`certificates.quota:${userIds.length}`, [...userIds, 'user', SESSION_CERT_METHOD, since], () =>
    db
      .selectFrom('certificates')
      .select(['user_id', 'issued_at'])
      .where('user_id', 'in', userIds)
      .where('cert_type', '=', 'user')
      .where('method', '!=', SESSION_CERT_METHOD)
      .where('issued_at', '>=', since)
      .where('revoked_at', 'is', null),
  );
  if (dialect === 'postgres') {
    if (pool === undefined) throw new Error('the certificate repository on PostgreSQL needs its connection pool');
    return insertBatchPipelined(pool, db, queries, items, userIds, quotaQuery);
  }
  return db.transaction().execute(async (trx) => {
    const decided = decideBatch(items, userIds, (await trx.executeQuery(quotaQuery)).rows);
    if (decided.rows.length > 0) {
      try {
        await queries.execute(trx, `certificates.insert:${decided.rows.length}`, insertParameters(decided.rows), () => trx.insertInto('certificates').values(decided.rows));
      } catch (err) {
        throw asSerialConflict(err, decided.rows);
      }
    }
    await insertAuditEvents(trx, queries, decided.events);
    return decided.outcomes;
  });
}

/**
 * PostgreSQL's side of insertBatchWithinQuota in two round trips and two writes instead of five of
 * each: BEGIN, the users' row locks and the quota read go out together, and so do the insert and
 * COMMIT (pg's pipeline mode, database.ts, with the socket corked while they are handed over). The
 * server still runs them one after the other, and under READ COMMITTED each statement takes its
 * snapshot when it starts, so the quota read, which starts only once the locks are held, sees every
 * certificate another replica committed for these users before letting go of them. If any statement
 * fails, the ones after it in the transaction fail too and the transaction is ended: a failed first
 * half is rolled back, and a COMMIT sent behind a failed insert ends it as a ROLLBACK. A connection
 * that failed in any other way than a statement's error is closed rather than reused.
 */
async function insertBatchPipelined(pool: pg.Pool, db: Kysely<Database>, queries: CompiledQueries, items: QuotaInsert[], userIds: string[], quotaQuery: CompiledQuery<QuotaRow>): Promise<BatchOutcome<void>[]> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    const lockQuery = queries.compile(`users.lock:${userIds.length}`, userIds, () => db.selectFrom('users').select('id').where('id', 'in', userIds).orderBy('id').forUpdate());
    const opened = await Promise.allSettled(sendTogether(client, [CompiledQuery.raw('begin'), lockQuery, quotaQuery]));
    // Any failure, BEGIN's included (the rest would then have run outside a transaction, the locks
    // already let go): end whatever was opened and refuse the batch.
    if (opened.some((r) => r.status === 'rejected')) {
      await client.query('rollback');
      throw firstFailure(opened);
    }
    const quota = opened[2] as PromiseFulfilledResult<pg.QueryResult<QuotaRow>>;
    const decided = decideBatch(items, userIds, quota.value.rows);
    const { rows, events } = decided;
    const writes: CompiledQuery[] = [];
    if (rows.length > 0 && events.length > 0) {
      // The ledger rows and their events in one statement: a data-modifying WITH runs exactly once.
      const eventRows = events.map(auditEventRow);
      writes.push(queries.compile(`certificates.insert_with_audit:${rows.length}:${eventRows.length}`, [...insertParameters(rows), ...insertParameters(eventRows)], () =>
        db.with('issued', (w) => w.insertInto('certificates').values(rows).returning('serial')).insertInto('audit_events').values(eventRows)));
    } else if (rows.length > 0) {
      // Accepted items without an event (decideBatch adds an event only with its row).
      writes.push(queries.compile(`certificates.insert:${rows.length}`, insertParameters(rows), () => db.insertInto('certificates').values(rows)));
    }
    const written = await Promise.allSettled(sendTogether(client, [...writes, CompiledQuery.raw('commit')]));
    if (written.some((w) => w.status === 'rejected')) throw asSerialConflict(firstFailure(written), rows);
    return decided.outcomes;
  } catch (err) {
    // A statement's error (pg.DatabaseError) leaves the session usable, its transaction ended above;
    // anything else (a lost connection, a protocol error) may not.
    if (!(err instanceof pg.DatabaseError) && !(err instanceof AirlockError)) broken = err instanceof Error ? err : new Error(String(err));
    throw err;
  } finally {
    client.release(broken);
  }
}

/**
 * Hands `statements` to pg with the connection's socket corked, so that they leave in one write
 * (and wake the server once) instead of one each; returns each one's result.
 */
function sendTogether(client: pg.PoolClient, statements: readonly CompiledQuery[]): Promise<pg.QueryResult>[] {
  const socket = client.connection.stream;
  socket.cork();
  try {
    return statements.map((q) => client.query(q.sql, [...q.parameters]));
  } finally {
    socket.uncork();
  }
}

type QuotaRow = { user_id: string; issued_at: number };

/**
 * Checks each item against its user's issue times (`issued`, read in the batch's transaction), in
 * order: a later item of the same user counts the earlier ones accepted. Returns each item's outcome
 * and the ledger rows and audit events of the accepted ones.
 */
function decideBatch(items: QuotaInsert[], userIds: string[], issuedRows: readonly QuotaRow[]): { outcomes: BatchOutcome<void>[]; rows: Selectable<CertificatesTable>[]; events: AuditEvent[] } {
  const issued = new Map<string, number[]>(userIds.map((id) => [id, []]));
  for (const row of issuedRows) issued.get(row.user_id)?.push(toInt(row.issued_at, 'certificates.issued_at'));
  const rows: Selectable<CertificatesTable>[] = [];
  const events: AuditEvent[] = [];
  const outcomes = items.map(({ record, quota, event }): BatchOutcome<void> => {
    const times = issued.get(record.userId)!;
    try {
      quota.check(times.filter((t) => t >= quota.since).sort((a, b) => a - b).slice(-quota.limit));
    } catch (error) {
      return { ok: false, error };
    }
    // A later item of the same user in this batch counts this one.
    times.push(record.issuedAt);
    rows.push(fromRecord(record));
    if (event !== undefined) events.push(event);
    return { ok: true, value: undefined };
  });
  return { outcomes, rows, events };
}

/** The first rejection's reason among settled promises (the ones after it in a transaction only echo it). */
function firstFailure(settled: readonly PromiseSettledResult<unknown>[]): unknown {
  for (const s of settled) if (s.status === 'rejected') return s.reason as unknown;
  return new Error('no statement failed');
}

/** A unique violation of a one-row batch is that serial's conflict; anything else is passed on. */
function asSerialConflict(err: unknown, rows: readonly Selectable<CertificatesTable>[]): unknown {
  if (isUniqueViolation(err) && rows.length === 1) return new AirlockError('conflict', `a certificate with serial ${rows[0]!.serial} already exists`, { cause: err });
  return err;
}

/** The certificate repository over a Kysely database. */
export function certificatesRepository(db: Kysely<Database>, dialect: SqlDialect, pool?: pg.Pool): CertificateRepository {
  const insertRow = async (q: Kysely<Database> | Transaction<Database>, record: CertificateRecord): Promise<void> => {
    try {
      await q.insertInto('certificates').values(fromRecord(record)).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw new AirlockError('conflict', `a certificate with serial ${record.serial} already exists`, { cause: err });
      throw err;
    }
  };
  // The issuance path's statements are compiled once per batch shape (compiled-queries.ts).
  const queries = new CompiledQueries();
  // Concurrent issuances (any users) share one transaction: group-commit.ts.
  // On PostgreSQL a batch costs two round trips whatever its size: one that would start with fewer than
  // four callers waits a millisecond for more (group-commit.ts). bench:ca on PostgreSQL, alternated:
  // batches of one 839 -> 127 of 2,700, 3,003-3,086 -> 3,236-3,356 certificates per CPU-second, p50
  // latency 7.0-7.3 -> 6.3-6.6 ms. SQLite's batches cost no round trip, and waiting gained nothing there.
  const gather = dialect === 'postgres' ? { below: 4, waitMs: 1 } : undefined;
  const insertWithinQuota = groupCommit<QuotaInsert, void>((items) => insertBatchWithinQuota(db, dialect, pool, queries, items), { maxBatch: MAX_BATCH, ...(gather === undefined ? {} : { gather }) });
  return {
    async insert(record: CertificateRecord): Promise<void> {
      await insertRow(db, record);
    },

    insertWithinQuota(record: CertificateRecord, quota: QuotaCheck, event?: AuditEvent): Promise<void> {
      return insertWithinQuota({ record, quota, event });
    },

    async bySerial(serial: bigint): Promise<CertificateRecord | undefined> {
      const row = await db.selectFrom('certificates').selectAll().where('serial', '=', fromSerial(serial)).executeTakeFirst();
      return row === undefined ? undefined : toRecord(row);
    },

    async listByUser(userId: string): Promise<CertificateRecord[]> {
      const rows = await db
        .selectFrom('certificates')
        .selectAll()
        .where('user_id', '=', userId)
        .orderBy('issued_at', 'desc')
        .orderBy('serial', 'desc')
        .execute();
      return rows.map(toRecord);
    },

    async listAll(options?: { validAt?: number }): Promise<CertificateRecord[]> {
      let query = db.selectFrom('certificates').selectAll();
      // Unexpired as OpenSSH sees it: a certificate is expired once now >= valid_before.
      if (options?.validAt !== undefined) query = query.where('valid_before', '>', options.validAt);
      const rows = await query.orderBy('issued_at', 'desc').orderBy('serial', 'desc').execute();
      return rows.map(toRecord);
    },

    async issuedSince(userId: string, since: number, limit?: number): Promise<number[]> {
      return unrevokedIssuedSince(db, userId, since, limit);
    },

    async revoke(serial: bigint, now: number, reason: string): Promise<boolean> {
      return db.transaction().execute(async (trx) => {
        const result = await trx
          .updateTable('certificates')
          .set({ revoked_at: now, revoke_reason: reason })
          .where('serial', '=', fromSerial(serial))
          .where('revoked_at', 'is', null)
          .executeTakeFirst();
        if (result.numUpdatedRows !== 1n) return false;
        await bumpKrlVersion(trx);
        return true;
      });
    },

    async revokeAllOfUser(userId: string, now: number, reason: string): Promise<bigint[]> {
      return db.transaction().execute(async (trx) => {
        // One statement with RETURNING (SQLite ≥ 3.35, PostgreSQL): the serials reported are exactly
        // the rows this call changed, even if another revocation runs at the same time.
        const rows = await trx
          .updateTable('certificates')
          .set({ revoked_at: now, revoke_reason: reason })
          .where('user_id', '=', userId)
          .where('revoked_at', 'is', null)
          .returning('serial')
          .execute();
        if (rows.length > 0) await bumpKrlVersion(trx);
        return sortSerials(rows.map((row) => toSerial(row.serial)));
      });
    },

    async krlVersion(): Promise<number> {
      const row = await db.selectFrom('settings').select('value').where('key', '=', KRL_VERSION_SETTING).executeTakeFirst();
      return row === undefined ? 0 : Number(row.value);
    },

    async revokedSerials(now: number): Promise<bigint[]> {
      const rows = await db
        .selectFrom('certificates')
        .select('serial')
        .where('revoked_at', 'is not', null)
        .where('valid_before', '>', now)
        .execute();
      return sortSerials(rows.map((row) => toSerial(row.serial)));
    },
  };
}

function sortSerials(serials: bigint[]): bigint[] {
  return serials.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function fromRecord(record: CertificateRecord): Selectable<CertificatesTable> {
  return {
    serial: fromSerial(record.serial),
    user_id: record.userId,
    user_name: record.userName,
    key_id: record.keyId,
    cert_type: record.certType,
    principals: JSON.stringify(record.principals),
    public_key: record.publicKey,
    fingerprint: record.fingerprint,
    valid_after: record.validAfter,
    valid_before: record.validBefore,
    method: record.method,
    client_address: record.clientAddress,
    issued_at: record.issuedAt,
    revoked_at: record.revokedAt,
    revoke_reason: record.revokeReason,
  };
}

function toRecord(row: Selectable<CertificatesTable>): CertificateRecord {
  return {
    serial: toSerial(row.serial),
    userId: row.user_id,
    userName: row.user_name,
    keyId: row.key_id,
    certType: toOneOf(row.cert_type, CERT_TYPES, 'certificates.cert_type'),
    principals: toStringArray(row.principals, 'certificates.principals'),
    publicKey: row.public_key,
    fingerprint: row.fingerprint,
    validAfter: toInt(row.valid_after, 'certificates.valid_after'),
    validBefore: toInt(row.valid_before, 'certificates.valid_before'),
    method: row.method,
    clientAddress: row.client_address,
    issuedAt: toInt(row.issued_at, 'certificates.issued_at'),
    revokedAt: toIntOrNull(row.revoked_at, 'certificates.revoked_at'),
    revokeReason: row.revoke_reason,
  };
}
