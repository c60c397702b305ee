/**
 * The live publisher (issue 12 item 12): makes this replica's live gateway connections visible to
 * operators on every replica, and carries out "end this connection" for the ones it holds.
 *
 * Every `intervalMs` (the live-check interval, 500 ms by default) it writes a heartbeat for the
 * replica, inserts the connections that opened, deletes those that closed, and updates those whose
 * sessions or channels changed (byte counters are refreshed every BYTES_EVERY ticks, and only where
 * they moved, so that tens of thousands of idle connections do not cost a write each per tick). A
 * replica with no connection writes nothing but the occasional prune. Then it reads the end requests on
 * its own rows — one indexed query — and ends those connections through the live watcher, with the
 * same DISCONNECT-with-reason and audit record as any other ending. A replica that dies stops its
 * heartbeat: its rows stop being listed after `staleAfterMs(intervalMs)` and are deleted by the next
 * prune on any replica. A store outage is logged and retried; it ends nothing.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { LiveConnectionRecord, LiveConnectionRepository } from '../store/repositories.ts';
import type { LiveConnection, LiveRegistry } from './live-registry.ts';

/** Byte counters are written every this many ticks. */
const BYTES_EVERY = 10;
/** Dead replicas are pruned every this many ticks. */
const PRUNE_EVERY = 60;
/** A failing tick is logged at most this often. */
const ERROR_LOG_MS = 60_000;

/** After how long without a heartbeat a replica counts as dead. */
export function staleAfterMs(intervalMs: number): number {
  return Math.max(10_000, intervalMs * 10);
}

export interface LivePublisherDeps {
  repository: LiveConnectionRepository;
  registry: Pick<LiveRegistry, 'connections'>;
  clock: Clock;
  intervalMs: number;
  /** Bytes received from and sent to the client so far. */
  bytes: (conn: LiveConnection) => { in: number; out: number };
  /** Ends a connection an operator asked to end (live-watcher.ts). */
  end: (conn: LiveConnection, by: string) => void;
  log: (level: 'warn' | 'error', msg: string, fields: Record<string, unknown>) => void;
}

/** Publishes this replica's live connections and acts on end requests for them. */
export class LivePublisher {
  readonly replicaId = randomUUID();
  readonly #d: LivePublisherDeps;
  readonly #startedAt: number;
  readonly #ids = new WeakMap<LiveConnection, string>();
  /** What was last written per connection id (sessions and channels, bytes), and the connection. */
  readonly #published = new Map<string, { conn: LiveConnection; shape: string; bytes: number }>();
  #timer: NodeJS.Timeout | null = null;
  #ticking: Promise<void> | null = null;
  #ticks = 0;
  #lastError = 0;

  constructor(deps: LivePublisherDeps) {
    this.#d = deps;
    this.#startedAt = deps.clock.now();
  }

  /** Starts publishing. */
  start(): void {
    if (this.#timer !== null) return;
    this.#timer = setInterval(() => void this.tick(), this.#d.intervalMs);
    this.#timer.unref();
    void this.tick();
  }

  /** Stops publishing and removes this replica's rows (a clean shutdown leaves nothing behind). */
  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#ticking;
    try {
      await this.#d.repository.removeReplicas({ id: this.replicaId });
    } catch (err) {
      this.#d.log('warn', 'could not remove this replica\'s live connections', { error: (err as Error).message });
    }
  }

  /** One round: heartbeat, publish changes, act on end requests. Never throws; concurrent calls share one round. */
  tick(): Promise<void> {
    this.#ticking ??= this.#round().finally(() => {
      this.#ticking = null;
    });
    return this.#ticking;
  }

  async #round(): Promise<void> {
    const repo = this.#d.repository;
    const now = this.#d.clock.now();
    this.#ticks++;
    const prune = this.#ticks % PRUNE_EVERY === 0;
    // Nothing open and nothing recorded: no write at all (an idle replica costs the database nothing).
    if (this.#published.size === 0 && !prune && this.#d.registry.connections().every((c) => c.ended)) return;
    try {
      await repo.heartbeat(this.replicaId, this.#startedAt, now);
      const current = new Map<string, LiveConnection>();
      for (const conn of this.#d.registry.connections()) {
        if (conn.ended) continue;
        let id = this.#ids.get(conn);
        if (id === undefined) {
          id = randomUUID();
          this.#ids.set(conn, id);
        }
        current.set(id, conn);
      }
      const gone = [...this.#published.keys()].filter((id) => !current.has(id));
      if (gone.length > 0) await repo.remove(gone);
      for (const id of gone) this.#published.delete(id);
      const bytesTick = this.#ticks % BYTES_EVERY === 0;
      const rows: Omit<LiveConnectionRecord, 'endRequestedAt' | 'endRequestedBy'>[] = [];
      for (const [id, conn] of current) {
        const row = this.#row(id, conn, now);
        const shape = `${row.sessions}|${JSON.stringify(row.channels)}`;
        const total = row.bytesIn + row.bytesOut;
        const before = this.#published.get(id);
        if (before === undefined || before.shape !== shape || (bytesTick && before.bytes !== total)) {
          rows.push(row);
          this.#published.set(id, { conn, shape, bytes: total });
        }
      }
      if (rows.length > 0) await repo.upsert(rows);
      if (this.#published.size > 0) {
        for (const req of await repo.endRequests(this.replicaId)) {
          const entry = this.#published.get(req.id);
          if (entry !== undefined && !entry.conn.ended) this.#d.end(entry.conn, req.by);
          this.#published.delete(req.id);
          await repo.remove([req.id]);
        }
      }
      if (prune) await repo.removeReplicas({ before: now - staleAfterMs(this.#d.intervalMs) });
    } catch (err) {
      // Forget what was written, so that the next round writes everything again.
      this.#published.clear();
      const t = Date.now();
      if (t - this.#lastError >= ERROR_LOG_MS) {
        this.#lastError = t;
        this.#d.log('warn', 'publishing live connections failed; retrying', { error: (err as Error).message });
      }
    }
  }

  #row(id: string, conn: LiveConnection, now: number): Omit<LiveConnectionRecord, 'endRequestedAt' | 'endRequestedBy'> {
    const bytes = this.#d.bytes(conn);
    return {
      id, replicaId: this.replicaId, userName: conn.identity.user.name, method: conn.identity.method,
      serial: conn.identity.serial === null ? null : conn.identity.serial.toString(), clientAddress: conn.clientAddress,
      openedAt: conn.openedAt, sessions: conn.sessions(),
      channels: [...conn.channels].filter((c) => !c.closed).map((c) => ({ target: c.target.name, host: c.host, port: c.port, openedAt: c.openedAt })),
      bytesIn: bytes.in, bytesOut: bytes.out, updatedAt: now,
    };
  }
}
