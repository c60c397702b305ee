/**
 * Service logging: one JSON object per line on stderr (or a sink given by tests). Messages name what
 * happened; errors are logged by their message and stack only — callers never pass secrets.
 */
export type LogSink = (line: string) => void;

export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, err?: unknown, fields?: Record<string, unknown>): void;
}

/** The default sink: stderr. */
export const stderrSink: LogSink = (line) => process.stderr.write(line + '\n');

/** A logger writing JSON lines to `sink` (null = discard). */
export function createLogger(sink: LogSink | null = stderrSink): Logger {
  const emit = (level: string, msg: string, fields: Record<string, unknown> = {}) =>
    sink?.(JSON.stringify({ level, time: new Date().toISOString(), msg, ...fields }));
  return {
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, err, fields) =>
      emit('error', msg, { ...fields, ...(err instanceof Error ? { error: err.message, stack: err.stack } : err === undefined ? {} : { error: typeof err === 'string' ? err : JSON.stringify(err) }) }),
  };
}
