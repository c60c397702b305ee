/**
 * Wake-ups for whoever waits on a browser-login request: when an approval or denial is written, the
 * waiting SSH session learns of it at once — in this process by an in-process event, on other replicas
 * through the store's cross-replica channel (PostgreSQL LISTEN/NOTIFY, store/pg-notifier.ts) when
 * there is one. A wake-up says only "read request X again": the waiter re-reads the database, which
 * alone decides (a forged or stray wake-up can release nothing). Waiters keep polling as the fallback.
 */
import { randomUUID } from 'node:crypto';

/** The cross-replica part (store/pg-notifier.ts's ChangeNotifier satisfies it). */
export interface RemoteFeed {
  notify(payload: string): void;
  onNotification(fn: (payload: string) => void): void;
}

/** One armed wake-up: `woken` settles when the request may have changed; `cancel` disarms it. */
export interface Wakeup {
  woken: Promise<void>;
  cancel(): void;
}

/** The payload's shape: `<sender>:<request id>`; the sender skips its own messages. */
const PAYLOAD = /^([0-9a-f-]{36}):(.{1,128})$/;

/** Publishes decisions and wakes the waiters on them. */
export class DecisionFeed {
  readonly #waiters = new Map<string, Set<() => void>>();
  readonly #remote: RemoteFeed | null;
  /** This process's sender id. */
  readonly #self = randomUUID();

  constructor(remote: RemoteFeed | null = null) {
    this.#remote = remote;
    remote?.onNotification((payload) => {
      const m = PAYLOAD.exec(payload);
      if (m !== null && m[1] !== this.#self) this.#wake(m[2]!);
    });
  }

  /** Tells this process's and every replica's waiters that request `id` was decided. */
  publish(id: string): void {
    this.#wake(id);
    this.#remote?.notify(`${this.#self}:${id}`);
  }

  /** Arms a wake-up for request `id`; arm before reading the request, so that no decision slips between. */
  arm(id: string): Wakeup {
    let fn!: () => void;
    const woken = new Promise<void>((resolve) => (fn = resolve));
    let set = this.#waiters.get(id);
    if (set === undefined) this.#waiters.set(id, (set = new Set()));
    set.add(fn);
    const cancel = () => {
      const s = this.#waiters.get(id);
      s?.delete(fn);
      if (s?.size === 0) this.#waiters.delete(id);
    };
    return { woken, cancel };
  }

  /** Requests with waiters now (bounded by the waiting connections). */
  get waiting(): number {
    return this.#waiters.size;
  }

  #wake(id: string): void {
    const set = this.#waiters.get(id);
    if (set === undefined) return;
    this.#waiters.delete(id);
    for (const fn of set) fn();
  }
}
