/**
 * The operators' audit view (issue 12 item 11): a filter by user, type (or type prefix), outcome and
 * time range read from a query string, pages newest first (continued by event id, so that events
 * arriving meanwhile do not shift the pages; times without a zone are UTC), and the export as JSON lines (one event per line, the
 * format log tools ingest).
 */
import { AirlockError } from '../errors.ts';
import type { AuditEvent, AuditFilter, AuditRepository } from '../store/repositories.ts';

/** Events per page. */
export const AUDIT_PAGE = 50;
/** At most this many events in one export. */
export const AUDIT_EXPORT_MAX = 100_000;

const OUTCOMES = ['success', 'failure', 'denied'] as const;

/** The filter as a form sends it (all strings, empty = no condition). */
export interface AuditQuery {
  user?: string;
  type?: string;
  outcome?: string;
  /** ISO date or date-time, inclusive. */
  from?: string;
  /** ISO date or date-time, exclusive. */
  to?: string;
  /** Continue below this event id. */
  before?: string;
}

function time(value: string | undefined, what: string): number | undefined {
  const v = (value ?? '').trim();
  if (v === '') return undefined;
  // A date-time without a zone is read as UTC (the pages show UTC), not as the server's local time.
  const t = Date.parse(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(v) ? `${v}Z` : v);
  if (!Number.isFinite(t)) throw new AirlockError('bad_request', `The ${what} time "${v.slice(0, 40)}" is not a date; use e.g. 2026-12-04 or 2026-12-04T09:30.`);
  return t;
}

/** Turns a form's query into a repository filter; bad_request for malformed values. */
export function auditFilter(q: AuditQuery, limit: number = AUDIT_PAGE): AuditFilter {
  const f: AuditFilter = { limit };
  const user = (q.user ?? '').trim();
  if (user !== '') f.actor = user.slice(0, 128);
  const type = (q.type ?? '').trim();
  if (type !== '') {
    if (!/^[a-z][a-z0-9_.]{0,63}$/.test(type)) throw new AirlockError('bad_request', `"${type.slice(0, 40)}" is not an event type; types look like gateway.channel or admin.user_disable.`);
    f.type = type.replace(/\.$/, '');
  }
  const outcome = (q.outcome ?? '').trim();
  if (outcome !== '') {
    if (!(OUTCOMES as readonly string[]).includes(outcome)) throw new AirlockError('bad_request', 'The outcome is one of success, failure or denied.');
    f.outcome = outcome as AuditEvent['outcome'];
  }
  const from = time(q.from, 'from');
  const to = time(q.to, 'to');
  if (from !== undefined) f.from = from;
  if (to !== undefined) f.to = to;
  const before = (q.before ?? '').trim();
  if (before !== '') {
    if (!/^\d{1,15}$/.test(before)) throw new AirlockError('bad_request', 'The page marker is not valid; start from the first page.');
    f.beforeId = Number(before);
  }
  return f;
}

/** One page of events, newest first, and the marker of the next page (null on the last). */
export async function auditPage(repo: Pick<AuditRepository, 'search'>, q: AuditQuery): Promise<{ events: AuditEvent[]; next: number | null }> {
  const f = auditFilter(q, AUDIT_PAGE + 1);
  const found = await repo.search(f);
  const events = found.slice(0, AUDIT_PAGE);
  const last = events[events.length - 1];
  return { events, next: found.length > AUDIT_PAGE && last?.id !== undefined ? last.id : null };
}

/** One event as an export line (ISO time, no trailing newline). */
export function auditJsonLine(e: AuditEvent): string {
  return JSON.stringify({ id: e.id, at: new Date(e.at).toISOString(), type: e.type, outcome: e.outcome, actor: e.actor, client_address: e.clientAddress, details: e.details });
}

/** Every event matching the filter (up to AUDIT_EXPORT_MAX), newest first, as JSON lines. */
export async function auditExport(repo: Pick<AuditRepository, 'search'>, q: AuditQuery): Promise<string> {
  const lines: string[] = [];
  let before: number | undefined;
  // Bounded: at most AUDIT_EXPORT_MAX events, read in pages of 1000.
  while (lines.length < AUDIT_EXPORT_MAX) {
    const f = auditFilter({ ...q, before: undefined }, Math.min(1000, AUDIT_EXPORT_MAX - lines.length));
    if (before !== undefined) f.beforeId = before;
    const page = await repo.search(f);
    for (const e of page) lines.push(auditJsonLine(e));
    if (page.length < f.limit) break;
    before = page[page.length - 1]!.id;
  }
  return lines.length === 0 ? '' : lines.join('\n') + '\n';
}
