/**
 * Output conventions of every command: stdout carries data (tables or `--json`), stderr carries messages
 * for people, and failures end with one clear sentence and a non-zero exit code chosen by error code.
 */
import { AirlockError, type ErrorCode } from '../errors.ts';
import { escapeForTerminal } from './terminal-text.ts';

/** Writes a message for people to stderr. */
export function say(message: string): void {
  process.stderr.write(message.endsWith('\n') ? message : message + '\n');
}

/** Writes data to stdout. */
export function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
}

/** Writes a value as pretty JSON to stdout. */
export function outJson(value: unknown): void {
  out(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2));
}

/** Renders rows as an aligned text table; every cell is escaped for the terminal (terminal-text.ts). */
export function table(headers: string[], rawRows: string[][]): string {
  const rows = rawRows.map((r) => r.map(escapeForTerminal));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

const EXIT: Partial<Record<ErrorCode, number>> = {
  bad_request: 2, invalid_key: 2, weak_key: 2, invalid_certificate: 2, config: 2,
  unauthenticated: 3, forbidden: 4, disabled: 4, not_found: 5, quota_exceeded: 6, throttled: 6, unavailable: 7,
};

/** The process exit code for a failure. */
export function exitCodeFor(err: unknown): number {
  return err instanceof AirlockError ? (EXIT[err.code] ?? 1) : 1;
}

/** Prints a failure as one sentence on stderr (never a stack trace unless AIRLOCK_DEBUG is set). */
export function reportFailure(err: unknown): void {
  if (err instanceof AirlockError) {
    say(`airlock: ${err.message}`);
  } else {
    const msg = err instanceof Error ? err.message : String(err);
    say(`airlock: unexpected error: ${msg}`);
  }
  if (process.env.AIRLOCK_DEBUG) console.error(err);
}
