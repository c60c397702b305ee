/**
 * PostgreSQL LISTEN/NOTIFY for the replicas of one database: a message published on one replica
 * reaches every other replica's listener within milliseconds, instead of at their next poll. Used
 * only to wake waiters early (a browser approval, store-independent consumers): a notification carries
 * no decision — the receiver always reads the database for the truth — so a lost one (the listening
 * connection dropped, the server restarted) costs latency, never correctness, and the callers keep
 * polling as the fallback. SQLite has no equivalent across processes; there the feed is in-process only.
 *
 * One dedicated connection per process (not from the pool: a pooled connection would stop listening
 * when returned), reconnected with backoff after a failure.
 */
import pg from 'pg';

/** What the rest of the service sees of a cross-replica message channel. */
export interface ChangeNotifier {
  /** Sends `payload` to every listener on the database (this process included); never throws. */
  notify(payload: string): void;
  /** Calls `fn` with every payload received. */
  onNotification(fn: (payload: string) => void): void;
  /** Whether the listening connection is up (tests, metrics). */
  readonly listening: boolean;
  close(): Promise<void>;
}

/** A PostgreSQL channel name: a fixed identifier, never user input (LISTEN cannot take a parameter). */
const CHANNEL_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
/** `application_name` of the listening connection. */
export const APPLICATION_NAME = 'airlock-notifications';
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;
/** pg_notify's payload limit is 8000 bytes; ours are short ids. */
const MAX_PAYLOAD = 1000;

/** Opens the listening connection on `channel` (waits for the first attempt; a failure is retried in the background). */
export async function openPgNotifier(url: string, channel: string, log: (msg: string, fields: Record<string, unknown>) => void): Promise<ChangeNotifier> {
  if (!CHANNEL_NAME.test(channel)) throw new Error(`invalid notification channel name ${channel}`);
  const n = new PgNotifier(url, channel, log);
  await n.connect();
  return n;
}

class PgNotifier implements ChangeNotifier {
  readonly #url: string;
  readonly #channel: string;
  readonly #log: (msg: string, fields: Record<string, unknown>) => void;
  readonly #handlers: ((payload: string) => void)[] = [];
  #client: pg.Client | null = null;
  #closed = false;
  #retryMs = RETRY_MIN_MS;
  #retry: NodeJS.Timeout | null = null;

  constructor(url: string, channel: string, log: (msg: string, fields: Record<string, unknown>) => void) {
    this.#url = url;
    this.#channel = channel;
    this.#log = log;
  }

  get listening(): boolean {
    return this.#client !== null;
  }

  async connect(): Promise<void> {
    if (this.#closed) return;
    // Named, so that operators see it in pg_stat_activity for what it is.
    const client = new pg.Client({ connectionString: this.#url, application_name: APPLICATION_NAME });
    const lost = (err: Error) => {
      if (this.#client === client) this.#client = null;
      client.removeAllListeners('notification');
      client.end().catch(() => undefined);
      if (!this.#closed) {
        this.#log('PostgreSQL notifications lost; polling meanwhile, reconnecting', { error: err.message, retry_ms: this.#retryMs });
        this.#schedule();
      }
    };
    client.on('error', lost);
    client.on('notification', (msg: pg.Notification) => {
      if (msg.channel !== this.#channel || msg.payload === undefined) return;
      for (const fn of this.#handlers) fn(msg.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${this.#channel}`);
    } catch (err) {
      client.removeListener('error', lost);
      lost(err as Error);
      return;
    }
    if (this.#closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#client = client;
    this.#retryMs = RETRY_MIN_MS;
  }

  #schedule(): void {
    if (this.#retry !== null || this.#closed) return;
    this.#retry = setTimeout(() => {
      this.#retry = null;
      void this.connect();
    }, this.#retryMs);
    this.#retry.unref();
    this.#retryMs = Math.min(RETRY_MAX_MS, this.#retryMs * 2);
  }

  notify(payload: string): void {
    const client = this.#client;
    if (client === null || payload.length > MAX_PAYLOAD) return;
    client.query('SELECT pg_notify($1, $2)', [this.#channel, payload]).catch((err: unknown) => {
      this.#log('PostgreSQL notification not sent; the receivers poll', { error: (err as Error).message });
    });
  }

  onNotification(fn: (payload: string) => void): void {
    this.#handlers.push(fn);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retry !== null) clearTimeout(this.#retry);
    const client = this.#client;
    this.#client = null;
    await client?.end().catch(() => undefined);
  }
}
