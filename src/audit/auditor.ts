/**
 * Audit: every authentication decision, certificate issued or revoked, and (later) every channel
 * becomes one typed event, stored in the database and written as one JSON log line (batched per event-loop turn, log-lines.ts). Details are
 * filtered through a deny-list of secret-bearing field names as a second line of defence: callers
 * must never pass secrets, and if one slips through it is redacted rather than persisted.
 */
import type { Clock } from '../clock.ts';
import type { AuditEvent, AuditRepository } from '../store/repositories.ts';
import { stderrLines } from './log-lines.ts';

export type AuditInput = Omit<AuditEvent, 'at' | 'id'> & { at?: number };

export interface Auditor {
  /** Records an event; rejects if it cannot be stored, so that callers on auth paths can fail closed. */
  record(event: AuditInput): Promise<void>;
  /**
   * Records an event whose row `write` stores together with the change it records (one transaction,
   * e.g. a certificate and its `cert.issue`), instead of appending it on its own; resolves with what
   * `write` returns. Redaction, the log line and `observe` are record()'s, after `write` succeeds;
   * if `write` throws, nothing is logged or observed and the error is passed on.
   */
  recordWith<T>(event: AuditInput, write: (event: AuditEvent) => Promise<T>): Promise<T>;
}

const SECRET_FIELDS = /^(password|passphrase|otp|totp|code|recovery_code|token|secret|private_?key|authorization|cookie)$/i;

/** Returns a copy of `details` with secret-bearing fields redacted, recursively. */
export function redact(details: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(details)) {
    if (SECRET_FIELDS.test(k)) out[k] = '[redacted]';
    else if (v !== null && typeof v === 'object' && !Array.isArray(v)) out[k] = redact(v as Record<string, unknown>);
    else out[k] = v;
  }
  return out;
}

/**
 * An auditor that appends to the store and writes a JSON line through `log` (stderr by default);
 * `observe` sees each stored event (the service's metrics).
 */
export function createAuditor(deps: { repository: AuditRepository; clock: Clock; log?: ((line: string) => void) | null; observe?: (event: AuditEvent) => void }): Auditor {
  const log = deps.log === undefined ? stderrLines() : deps.log;
  const recordWith = async <T>(input: AuditInput, write: (event: AuditEvent) => Promise<T>): Promise<T> => {
    const event: AuditEvent = { ...input, at: input.at ?? deps.clock.now(), details: redact(input.details) };
    const result = await write(event);
    // Metrics count what was recorded (ops/metrics.ts); they never change what happens.
    deps.observe?.(event);
    log?.(JSON.stringify({ level: 'info', msg: 'audit', time: new Date(event.at).toISOString(), ...event, details: event.details }));
    return result;
  };
  return {
    record: (input) => recordWith(input, (event) => deps.repository.append(event)),
    recordWith,
  };
}
