/**
 * Group commit: calls that arrive while a batch is being written (or in the same event-loop turn)
 * are written together in the next one, one transaction for many callers. Each caller's promise
 * settles only after the transaction that holds its row has committed, so an answer sent after it
 * is never lost on a crash. If a whole batch fails (a constraint, a lost connection), each of its
 * calls is retried alone, so that one bad row fails only its own caller.
 */

/** One call's outcome inside a batch: its value, or the error that refuses it alone. */
export type BatchOutcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

/** How long a batch that would start small waits for more callers (see groupCommit). */
export interface Gather {
  /** A batch with fewer callers than this waits... */
  below: number;
  /** ...this many milliseconds before it starts. */
  waitMs: number;
}

/**
 * Returns a function that queues an item and resolves with its outcome from `runBatch`. With
 * `gather`, a batch about to start with fewer than `gather.below` callers first waits
 * `gather.waitMs` for others (less, once `maxBatch` are waiting): where each batch costs round trips
 * (PostgreSQL), requests that arrive as a wave after a lull otherwise go out as a batch of one
 * followed by a batch of the rest. Ending the wait as soon as `below` had come was tried: the wave's
 * rest then formed the next small batch, and the gain was gone.
 */
export function groupCommit<T, R>(runBatch: (items: T[]) => Promise<BatchOutcome<R>[]>, opts: { maxBatch: number; gather?: Gather }): (item: T) => Promise<R> {
  type Waiting = { item: T; resolve: (r: R) => void; reject: (e: unknown) => void };
  let queue: Waiting[] = [];
  let running = false;

  // Ends a gathering wait early, once a whole batch is waiting.
  let wake: (() => void) | undefined;
  const gathered = (ms: number): Promise<void> =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        wake = undefined;
        resolve();
      }, ms);
      wake = () => {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      };
    });

  const settle = (w: Waiting, outcome: BatchOutcome<R> | undefined): void => {
    if (outcome === undefined) w.reject(new Error('group commit: the batch returned no outcome for an item'));
    else if (outcome.ok) w.resolve(outcome.value);
    else w.reject(outcome.error);
  };

  const drain = async (): Promise<void> => {
    running = true;
    // Bounded: each turn takes at least one waiting call off the queue, and only callers add to it.
    while (queue.length > 0) {
      if (opts.gather !== undefined && queue.length < opts.gather.below) await gathered(opts.gather.waitMs);
      const batch = queue.slice(0, opts.maxBatch);
      queue = queue.slice(batch.length);
      let outcomes: BatchOutcome<R>[] | undefined;
      try {
        outcomes = await runBatch(batch.map((w) => w.item));
      } catch (err) {
        if (batch.length === 1) {
          batch[0]!.reject(err);
          continue;
        }
      }
      if (outcomes !== undefined) {
        batch.forEach((w, i) => settle(w, outcomes[i]));
        continue;
      }
      for (const w of batch) {
        try {
          settle(w, (await runBatch([w.item]))[0]);
        } catch (err) {
          w.reject(err);
        }
      }
    }
    running = false;
  };

  return (item: T): Promise<R> =>
    new Promise<R>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      if (wake !== undefined && queue.length >= opts.maxBatch) wake();
      // Idle: wait for the rest of this turn's callers, then write them together.
      if (!running && queue.length === 1) setImmediate(() => void drain());
    });
}
