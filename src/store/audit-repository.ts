/** Audit events on Kysely: append-only rows with JSON details, read oldest first. */
import { sql, type Insertable, type Kysely, type Selectable, type Transaction } from 'kysely';
import { CompiledQueries, insertParameters } from './compiled-queries.ts';
import { groupCommit } from './group-commit.ts';
import { AirlockError } from '../errors.ts';
import type { AuditEvent, AuditFilter, AuditRepository } from './repositories.ts';
import { toInt, toObject, toOneOf } from './row-values.ts';
import type { AuditEventsTable, Database } from './schema.ts';

const OUTCOMES = ['success', 'failure', 'denied'] as const;

/** Events per multi-row insert (6 parameters a row). */
const MAX_BATCH = 256;

/**
 * Inserts audit events in one statement on `q` (its text compiled once per count, in `queries`): the
 * audit's own group commit, and the transactions that store an event together with the change it
 * records (a certificate and its `cert.issue`).
 */
export async function insertAuditEvents(q: Kysely<Database> | Transaction<Database>, queries: CompiledQueries, events: readonly AuditEvent[]): Promise<void> {
  if (events.length === 0) return;
  const rows = events.map(auditEventRow);
  await queries.execute(q, `audit_events.insert:${rows.length}`, insertParameters(rows), () => q.insertInto('audit_events').values(rows));
}

/** The audit repository over a Kysely database. */
export function auditRepository(db: Kysely<Database>): AuditRepository {
  const queries = new CompiledQueries();
  // Events recorded at the same time are stored by one multi-row insert (group-commit.ts); each
  // append still resolves only once its row is committed.
  const append = groupCommit<AuditEvent, void>(async (events) => {
    await insertAuditEvents(db, queries, events);
    return events.map(() => ({ ok: true, value: undefined }));
  }, { maxBatch: MAX_BATCH });
  return {
    append,

    async list(options: { since?: number; limit?: number; actor?: string; type?: string }): Promise<AuditEvent[]> {
      let query = db.selectFrom('audit_events').selectAll();
      if (options.since !== undefined) query = query.where('at', '>=', options.since);
      if (options.actor !== undefined) query = query.where('actor', '=', options.actor);
      if (options.type !== undefined) query = query.where('type', '=', options.type);
      query = query.orderBy('at', 'asc').orderBy('id', 'asc');
      if (options.limit !== undefined) {
        if (!Number.isSafeInteger(options.limit) || options.limit < 0) throw new AirlockError('bad_request', 'the limit must be a non-negative integer');
        query = query.limit(options.limit);
      }
      const rows = await query.execute();
      return rows.map(toEvent);
    },

    async search(f: AuditFilter): Promise<AuditEvent[]> {
      if (!Number.isSafeInteger(f.limit) || f.limit < 1) throw new AirlockError('bad_request', 'the limit must be a positive integer');
      let query = db.selectFrom('audit_events').selectAll();
      if (f.actor !== undefined) query = query.where('actor', '=', f.actor);
      if (f.type !== undefined) {
        const type = f.type;
        // A prefix match by equality of the first characters, not LIKE ('_' and '%' would be wildcards)
        // and not a range (a locale collation may order punctuation unlike byte order).
        const prefix = `${type}.`;
        query = query.where((eb) => eb.or([eb('type', '=', type), eb(sql<string>`substr(type, 1, ${prefix.length})`, '=', prefix)]));
      }
      if (f.outcome !== undefined) query = query.where('outcome', '=', f.outcome);
      if (f.from !== undefined) query = query.where('at', '>=', f.from);
      if (f.to !== undefined) query = query.where('at', '<', f.to);
      if (f.beforeId !== undefined) query = query.where('id', '<', f.beforeId);
      const rows = await query.orderBy('id', 'desc').limit(f.limit).execute();
      return rows.map(toEvent);
    },
  };
}

/** An event as its audit_events row (for inserts here and in statements that store an event with its change). */
export function auditEventRow(event: AuditEvent): Insertable<AuditEventsTable> {
  return {
    at: event.at,
    type: event.type,
    outcome: event.outcome,
    actor: event.actor,
    client_address: event.clientAddress,
    details: JSON.stringify(event.details),
  };
}

function toEvent(row: Selectable<AuditEventsTable>): AuditEvent {
  return {
    id: toInt(row.id, 'audit_events.id'),
    at: toInt(row.at, 'audit_events.at'),
    type: row.type,
    outcome: toOneOf(row.outcome, OUTCOMES, 'audit_events.outcome'),
    actor: row.actor,
    clientAddress: row.client_address,
    details: toObject(row.details, 'audit_events.details'),
  };
}
