/**
 * Draining on SIGTERM: a replica that is being stopped (a rolling restart, a scale-down) stops
 * accepting new connections on its SSH listeners, reports not-ready on `/readyz` so that the load
 * balancer sends new clients elsewhere, lets the sessions it carries run on for up to
 * `AIRLOCK_DRAIN_TIMEOUT`, and then ends what is left with a one-line reason (SSH_MSG_DISCONNECT,
 * which OpenSSH prints) instead of cutting TCP connections without a word. The HTTP listener keeps
 * answering meanwhile: the load balancer must be able to read the 503, and a browser approval for a
 * session on this replica may still arrive.
 */

/** A listener whose connections can be drained (the SSH gateway; per-job listeners likewise). */
export interface Drainable {
  /** Stops accepting new connections; open ones go on. */
  stopAccepting(): Promise<void>;
  /** Connections open now. */
  readonly openConnections: number;
  /** Resolves once no connection is open. */
  whenIdle(): Promise<void>;
  /** Ends every open connection, telling authenticated clients `message`. */
  endAll(message: string): void;
}

/** What a user reads when the drain timeout ends their session. */
export const DRAIN_MESSAGE = 'This Airlock server is restarting and has closed your connection. Connect again: another server takes over.';

/** How a drain ended. */
export interface DrainResult {
  /** Connections still open at the deadline (or at `hurry()`), ended with DRAIN_MESSAGE. */
  ended: number;
  /** How long the drain took. */
  ms: number;
}

/** One drain of a set of listeners; `run()` once, `hurry()` to end the wait early (a second signal). */
export class Drain {
  readonly #listeners: readonly Drainable[];
  readonly #timeoutMs: number;
  #hurry: (() => void) | null = null;
  #hurried = false;

  constructor(listeners: readonly Drainable[], timeoutMs: number) {
    this.#listeners = listeners;
    this.#timeoutMs = timeoutMs;
  }

  /** Stops accepting, waits for the connections to end by themselves (bounded), then ends the rest. */
  async run(): Promise<DrainResult> {
    const started = performance.now();
    await Promise.all(this.#listeners.map((l) => l.stopAccepting()));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      this.#hurry = resolve;
      if (this.#hurried) resolve();
      else timer = setTimeout(resolve, this.#timeoutMs);
    });
    try {
      await Promise.race([Promise.all(this.#listeners.map((l) => l.whenIdle())), deadline]);
    } finally {
      clearTimeout(timer);
    }
    let ended = 0;
    for (const l of this.#listeners) {
      ended += l.openConnections;
      if (l.openConnections > 0) l.endAll(DRAIN_MESSAGE);
    }
    // The DISCONNECT is sent; each connection closes when its client hangs up (at most ssh2-disconnect.ts's grace).
    await Promise.all(this.#listeners.map((l) => l.whenIdle()));
    return { ended, ms: Math.round(performance.now() - started) };
  }

  /** Ends the wait now (the operator asked twice). */
  hurry(): void {
    this.#hurried = true;
    this.#hurry?.();
  }
}
