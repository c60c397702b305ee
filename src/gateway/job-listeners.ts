/**
 * The gateway's per-job listeners (PRODUCT.md "Per-job endpoints"): every replica listens on the port
 * of every live job. The set of live jobs lives in the database; each replica reconciles its listeners
 * with it every `intervalMs` (well within a second), so a job registered through any replica is served
 * by all, and a job that ended or expired stops accepting on all at once: its listener closes and its
 * live connections hear one line and are closed.
 *
 * At the door, before any SSH byte (not even the identification string), a client outside the job's
 * CIDRs is disconnected and the refusal recorded in the job's log (Rescale's per-job client CIDRs).
 * Admitted connections then pass the gateway's one door (gateway-door.ts): the same pre-authentication
 * limits as the main port, one budget for all ports.
 */
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { cidrListContains, parseCidr, type Cidr } from '../ssh/cidr.ts';
import { jobLive, type Job, type JobRepository } from '../jobs/job.ts';
import type { Conn, GatewayContext } from './gateway-conn.ts';
import type { GatewayDoor } from './gateway-door.ts';

/** Refusals at a job's door are logged once per job, client address and this interval (a flood must not write the database per SYN). */
const REFUSAL_LOG_INTERVAL_MS = 10_000;
const REFUSAL_LOG_MAX_KEYS = 1_000;

export interface JobListenersDeps {
  ctx: GatewayContext;
  door: GatewayDoor;
  jobs: Pick<JobRepository, 'list' | 'addEvent'>;
  /** The address job ports listen on (the main SSH listener's host). */
  host: string;
  /** How often the listeners are reconciled with the database. */
  intervalMs: number;
  /** Ends an authenticated job connection with a one-line message (job end). */
  endConnection: (conn: Conn, message: string) => void;
  /** Called once when a job this replica served has ended or expired (after its connections are told). */
  jobEnded: (job: Job) => Promise<void>;
}

/** One job's listener and the connections it admitted. */
interface JobEndpoint {
  job: Job;
  cidrs: Cidr[];
  server: NetServer;
  listening: boolean;
  conns: Set<Conn>;
}

/** Keeps this replica's job listeners in step with the live jobs in the database. */
export class JobListeners {
  readonly #d: JobListenersDeps;
  readonly #endpoints = new Map<string, JobEndpoint>();
  readonly #refusalsLogged = new Map<string, number>();
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #stopped = false;

  constructor(deps: JobListenersDeps) {
    this.#d = deps;
  }

  /** Reconciles now and then every `intervalMs`. */
  async start(): Promise<void> {
    await this.reconcile();
    if (this.#stopped) return;
    this.#timer = setInterval(() => void this.reconcile(), this.#d.intervalMs);
    this.#timer.unref();
  }

  /** The ports this replica listens on, by job id. */
  ports(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [id, e] of this.#endpoints) if (e.listening) out.set(id, e.job.port);
    return out;
  }

  /** The job a connection came in on (its current record: renewals included). */
  jobOf(conn: Conn): Job | undefined {
    return conn.jobId === undefined ? undefined : this.#endpoints.get(conn.jobId)?.job;
  }

  /** One pass: open listeners for new live jobs, close those of jobs no longer live. Never runs twice at once. */
  reconcile(): Promise<void> {
    this.#running ??= this.#reconcile().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async #reconcile(): Promise<void> {
    const now = this.#d.ctx.deps.clock.now();
    let live: Job[];
    try {
      live = await this.#d.jobs.list({ liveAt: now });
    } catch (err) {
      // A database outage keeps what is open (the job's own lifetime still applies below).
      this.#d.ctx.log('warn', 'job listeners: live jobs could not be read', { error: (err as Error).message });
      live = [...this.#endpoints.values()].map((e) => e.job).filter((j) => jobLive(j, now));
    }
    if (this.#stopped) return;
    const ids = new Set(live.map((j) => j.id));
    for (const [id, e] of this.#endpoints) {
      if (!ids.has(id)) this.#close(e, `The job ${e.job.name} has ended; this connection is closed.`);
    }
    for (const job of live) {
      const e = this.#endpoints.get(job.id);
      if (e === undefined) await this.#open(job);
      else e.job = job;
    }
    if (this.#refusalsLogged.size > 0) {
      for (const [k, at] of this.#refusalsLogged) if (now - at >= REFUSAL_LOG_INTERVAL_MS) this.#refusalsLogged.delete(k);
    }
  }

  async #open(job: Job): Promise<void> {
    const e: JobEndpoint = { job, cidrs: job.clientCidrs.map((c) => parseCidr(c)), server: createServer({ noDelay: true }), listening: false, conns: new Set() };
    e.server.on('connection', (socket: Socket) => this.#accept(e, socket));
    this.#endpoints.set(job.id, e);
    try {
      await new Promise<void>((resolve, reject) => {
        e.server.once('error', reject);
        e.server.listen({ host: this.#d.host, port: job.port, exclusive: true }, () => {
          e.server.off('error', reject);
          resolve();
        });
      });
      e.listening = true;
      e.server.on('error', (err) => this.#d.ctx.log('warn', 'job listener error', { job: job.id, port: job.port, error: err.message }));
    } catch (err) {
      // Taken by something else on this host: tried again at the next pass.
      this.#endpoints.delete(job.id);
      this.#d.ctx.log('warn', 'job port could not be opened', { job: job.id, port: job.port, error: (err as Error).message });
    }
    if (this.#stopped) e.server.close();
  }

  #accept(e: JobEndpoint, socket: Socket): void {
    if (!jobLive(e.job, this.#d.ctx.deps.clock.now())) {
      // Expired between two passes: the port already refuses.
      socket.destroy();
      return;
    }
    this.#d.door.accept(socket, {
      screen: (address) => {
        if (e.cidrs.length === 0 || cidrListContains(e.cidrs, address)) return undefined;
        this.#logRefusal(e.job, address);
        return 'job_client_cidr';
      },
      admitted: (conn) => {
        conn.jobId = e.job.id;
        e.conns.add(conn);
        conn.socket.once('close', () => e.conns.delete(conn));
      },
    });
  }

  #logRefusal(job: Job, address: string): void {
    const key = `${job.id}|${address}`;
    const now = this.#d.ctx.deps.clock.now();
    if (this.#refusalsLogged.has(key) || this.#refusalsLogged.size >= REFUSAL_LOG_MAX_KEYS) return;
    this.#refusalsLogged.set(key, now);
    this.#d.jobs.addEvent({
      jobId: job.id, userName: null, clientAddress: address, port: job.port, startedAt: now, endedAt: now,
      outcome: 'refused_cidr', reason: `${address} is outside the job's client networks`,
    }).catch((err: unknown) => this.#d.ctx.log('error', 'job log write failed', { job: job.id, error: (err as Error).message }));
  }

  /** Stops accepting on the job's port at once and ends its connections with `message`. */
  #close(e: JobEndpoint, message: string): void {
    this.#endpoints.delete(e.job.id);
    e.server.close();
    for (const conn of e.conns) {
      if (conn.identity !== null) this.#d.endConnection(conn, message);
      else conn.socket.destroy();
    }
    void this.#d.jobEnded(e.job);
  }

  /** Closes every job listener and connection (process shutdown). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    await this.#running;
    const closing = [...this.#endpoints.values()].map((e) => new Promise<void>((resolve) => {
      e.server.close(() => resolve());
      for (const c of e.conns) c.socket.destroy();
    }));
    this.#endpoints.clear();
    await Promise.all(closing);
  }
}
