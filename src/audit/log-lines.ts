/**
 * Audit log lines to stderr, batched per event-loop turn: lines recorded in one turn go out as one
 * write after it (one system call instead of one per event). Each line stays one JSON object; the
 * database row, not this line, is the durable record, and pending lines are written before the
 * process exits normally.
 */

/** Collects lines and hands them to `write` as one chunk per event-loop turn, in order. */
export function batchedLineWriter(write: (chunk: string) => void): { line: (text: string) => void; flush: () => void } {
  let pending: string[] = [];
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (pending.length === 0) return;
    const chunk = pending.join('\n') + '\n';
    pending = [];
    write(chunk);
  };
  return {
    line(text: string): void {
      pending.push(text);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    flush,
  };
}

let stderrWriter: ReturnType<typeof batchedLineWriter> | undefined;

/** The process's one batched stderr line writer (flushed on exit, so that process.exit() loses nothing). */
export function stderrLines(): (text: string) => void {
  if (stderrWriter === undefined) {
    const writer = batchedLineWriter((chunk) => process.stderr.write(chunk));
    process.once('exit', writer.flush);
    stderrWriter = writer;
  }
  return stderrWriter.line;
}
