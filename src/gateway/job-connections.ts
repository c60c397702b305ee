/**
 * Authenticated connections on a job's port: the gateway has authenticated the researcher exactly as on
 * the main port (gateway-auth-flow.ts); here ownership is decided before the login is accepted, the
 * connection is handed to the terminating proxy (job-proxy.ts), and each connection is written to the
 * job's log (Rescale): user, client address, port, start, end, bytes, outcome. When a job ends, its
 * connections hear one line and close, and the session certificates minted for it are revoked.
 * Ownership is also re-checked while a connection lives (`recheck`, run by the live watcher whenever
 * access may have narrowed): a user removed from the job's project — who thereby stops owning it, be it
 * the whole project's job or one naming them — is disconnected with one line, audited, and logged.
 */
import type { CertificateAuthority } from '../ca/authority.ts';
import { jobLive, type Job, type JobForwarding, type JobRepository } from '../jobs/job.ts';
import { parsePublicKey } from '../ssh/keys.ts';
import type { Store } from '../store/repositories.ts';
import type { GatewayIdentity } from './auth.ts';
import type { LoginAuthorizer } from './gateway-auth-flow.ts';
import type { Conn, GatewayContext } from './gateway-conn.ts';
import type { JobHostTrust } from './job-host-trust.ts';
import type { AccessCheck } from './live-registry.ts';
import { proxyJobConnection, type JobProxySession } from './job-proxy.ts';
import { disconnectWithMessage } from './ssh2-disconnect.ts';

export interface JobConnectionsDeps {
  ctx: GatewayContext;
  jobs: Pick<JobRepository, 'byId' | 'listForUser' | 'addEvent' | 'finishEvent'>;
  certificates: Pick<Store['certificates'], 'revoke'>;
  ca: Pick<CertificateAuthority, 'issueSessionCertificate' | 'hostCaKey'>;
  /** The job a connection came in on (job-listeners.ts). */
  jobOf: (conn: Conn) => Job | undefined;
  /** The gateway's address towards jobs; a route lookup when absent. */
  sourceAddress?: string | undefined;
  /** What the operator lets jobs allow (`AIRLOCK_JOB_FORWARDING`); a job's own list counts only within it. */
  forwarding?: readonly JobForwarding[] | undefined;
}

/** How the proxy trusts the job's sshd: a host certificate from the host CA, or the pinned key. */
export function jobHostTrust(hostKey: string): JobHostTrust {
  const type = hostKey.trim().split(/\s+/, 1)[0] ?? '';
  return type.endsWith('-cert-v01@openssh.com') ? { kind: 'host-certificate', certificate: hostKey.trim() } : { kind: 'pinned', publicKey: parsePublicKey(hostKey) };
}

/** Per-connection handling of job ports, after the door and the authentication flow. */
export class JobConnections {
  readonly #d: JobConnectionsDeps;
  readonly #sessions = new WeakMap<Conn, JobProxySession>();
  /** The session certificates this replica minted for each live job, revoked when the job ends. */
  readonly #minted = new Map<string, Set<bigint>>();
  /** Connections ended because their user stopped owning the job: why, for the job log. */
  readonly #disowned = new WeakMap<Conn, string>();

  constructor(deps: JobConnectionsDeps) {
    this.#d = deps;
  }

  /** The login decision of a job port: the job is live and the user is one of its owners. */
  readonly authorize: LoginAuthorizer = async (conn, identity) => {
    const now = this.#d.ctx.deps.clock.now();
    const job = this.#d.jobOf(conn);
    if (job === undefined || !jobLive(job, now)) return { ok: false, reason: 'job_ended', message: 'This job has ended; its port no longer leads anywhere.' };
    const mine = await this.#d.jobs.listForUser(identity.user.id, now);
    if (mine.some((j) => j.id === job.id)) return { ok: true };
    this.#log(job, {
      jobId: job.id, userName: identity.user.name, clientAddress: conn.address, port: job.port, startedAt: now, endedAt: now,
      outcome: 'refused_owner', reason: 'not an owner of the job',
    });
    return { ok: false, reason: 'not_job_owner', message: `${identity.user.name} may not enter job ${job.name}: only its owners may. Ask the job's owner, or your project's PI.` };
  };

  /**
   * Whether the user of a live job connection still owns its job (the live watcher's `access` rule);
   * a job that ended is left to the listeners, which close its connections with their own line.
   */
  async recheck(conn: Conn): Promise<AccessCheck> {
    const job = this.#d.jobOf(conn);
    const id = conn.identity;
    if (job === undefined || id === null) return { ok: true };
    const now = this.#d.ctx.deps.clock.now();
    try {
      if ((await this.#d.jobs.listForUser(id.user.id, now)).some((j) => j.id === job.id)) return { ok: true };
      const current = await this.#d.jobs.byId(job.id);
      if (current === undefined || !jobLive(current, now)) return { ok: true };
    } catch {
      return { ok: false, reason: 'internal', message: 'Ownership could not be checked.' };
    }
    this.#disowned.set(conn, 'no longer an owner of the job');
    return { ok: false, reason: 'not_job_owner', message: `${id.user.name} no longer owns job ${job.name} (removed from its owners or its project); this connection is closed.` };
  }

  /** The connection is authenticated and ready: hand it to the proxy and log it. */
  async ready(conn: Conn): Promise<void> {
    const job = this.#d.jobOf(conn);
    const id = conn.identity as GatewayIdentity;
    if (job === undefined || conn.client === null) {
      disconnectWithMessage(conn.client, conn.socket, 'This job has ended; its port no longer leads anywhere.');
      return;
    }
    const startedAt = this.#d.ctx.deps.clock.now();
    if (job.hostKey === null) {
      this.#log(job, { jobId: job.id, userName: id.user.name, clientAddress: conn.address, port: job.port, startedAt, endedAt: startedAt, outcome: 'failure', reason: 'the job has no registered host key' });
      disconnectWithMessage(conn.client, conn.socket, 'The job was registered without its host key, so the gateway cannot verify it; tell the operator.');
      return;
    }
    let eventId: string | undefined;
    try {
      eventId = (await this.#d.jobs.addEvent({ jobId: job.id, userName: id.user.name, clientAddress: conn.address, port: job.port, startedAt, outcome: 'open', reason: null })).id;
    } catch (err) {
      this.#d.ctx.log('error', 'job log write failed', { job: job.id, error: (err as Error).message });
    }
    if (conn.socket.destroyed) return;
    const session = proxyJobConnection(conn.client, { user: { id: id.user.id, name: id.user.name }, clientAddress: conn.address }, {
      id: job.id, name: job.name, address: job.host, port: job.sshPort, loginUser: job.loginUser, hostTrust: jobHostTrust(job.hostKey),
      expiresAt: job.expiresAt, ...(job.services.length > 0 ? { servicePorts: job.services.map((s) => s.port) } : {}),
      features: { x11: this.#allows(job, 'x11'), agentForwarding: this.#allows(job, 'agent') },
    }, {
      ca: this.#d.ca, audit: this.#d.ctx.deps.audit, clock: this.#d.ctx.deps.clock,
      ...(this.#d.sourceAddress !== undefined ? { sourceAddress: this.#d.sourceAddress } : {}),
      // The gateway's data path (channel-relay.ts): researcher→job data straight from ssh2's decryption.
      ...(conn.relays !== null ? { researcherRelays: conn.relays } : {}),
    });
    this.#sessions.set(conn, session);
    // The session certificate's serial, once issued: revoked when the job ends.
    void session.upstream.catch(() => undefined).finally(() => {
      if (session.certificateSerial === undefined) return;
      const serials = this.#minted.get(job.id) ?? new Set<bigint>();
      serials.add(session.certificateSerial);
      this.#minted.set(job.id, serials);
    });
    let failure: string | null = null;
    session.upstream.catch((err: unknown) => {
      failure = (err as Error).message;
    });
    void session.closed.then(async () => {
      const current = this.#d.jobOf(conn);
      const endedByJob = current === undefined || !jobLive(current, this.#d.ctx.deps.clock.now());
      const disowned = this.#disowned.get(conn);
      if (eventId === undefined) return;
      await this.#d.jobs.finishEvent(eventId, {
        endedAt: this.#d.ctx.deps.clock.now(), bytesIn: session.bytes.toJob, bytesOut: session.bytes.fromJob,
        outcome: failure !== null ? 'failure' : disowned !== undefined ? 'revoked' : endedByJob ? 'ended' : 'success', reason: failure ?? disowned ?? null,
      });
    }).catch((err: unknown) => this.#d.ctx.log('error', 'job log write failed', { job: job.id, error: (err as Error).message }));
  }

  /** Ends a job connection with a one-line message (the job ended). */
  end(conn: Conn, message: string): void {
    // The reason goes in SSH_MSG_DISCONNECT, which OpenSSH always prints; text written to the session's
    // stderr just before may be lost, as the client exits on the disconnect without flushing it.
    disconnectWithMessage(conn.client, conn.socket, message);
    this.#sessions.get(conn)?.close(message);
  }

  /** The job ended: the session certificates minted for it through this replica are revoked. */
  async jobEnded(job: Job): Promise<void> {
    const serials = this.#minted.get(job.id);
    this.#minted.delete(job.id);
    const now = this.#d.ctx.deps.clock.now();
    for (const serial of serials ?? []) {
      try {
        if (await this.#d.certificates.revoke(serial, now, `job ${job.name} ended`)) {
          this.#d.ctx.audit({ type: 'cert.revoke', outcome: 'success', actor: null, clientAddress: null, details: { serial: serial.toString(), reason: `job ${job.name} ended`, job: job.id } });
        }
      } catch (err) {
        this.#d.ctx.log('error', 'revoking a job\'s session certificate failed', { job: job.id, serial: serial.toString(), error: (err as Error).message });
      }
    }
  }

  /** Off unless both the job and the operator allow it: an operator who withdraws it wins over jobs registered before. */
  #allows(job: Job, what: JobForwarding): boolean {
    return job.forwarding.includes(what) && (this.#d.forwarding ?? []).includes(what);
  }

  #log(job: Job, event: Parameters<JobConnectionsDeps['jobs']['addEvent']>[0]): void {
    this.#d.jobs.addEvent(event).catch((err: unknown) => this.#d.ctx.log('error', 'job log write failed', { job: job.id, error: (err as Error).message }));
  }
}
