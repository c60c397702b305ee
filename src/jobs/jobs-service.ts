/**
 * The rules for jobs, shared by the API (http/job-routes.ts) and `airlock admin job`: validation of what
 * an orchestrator registers, the project a scoped token is bound to, owners resolved to project members,
 * port allocation from the pool, renew and end, the job log, and an audit record for every change.
 */
import type { Auditor } from '../audit/auditor.ts';
import type { Clock } from '../clock.ts';
import { AirlockError } from '../errors.ts';
import type { Actor } from '../inventory/ports.ts';
import { canonicalCidrs, checkLoginUser, checkPort, checkProjectName, checkTargetName, parseHost } from '../inventory/target-validation.ts';
import { parseCertificate } from '../ssh/certificate.ts';
import { parsePublicKey } from '../ssh/keys.ts';
import type { Store } from '../store/repositories.ts';
import { JOB_FORWARDING, jobLive, type Job, type JobEvent, type JobForwarding, type PortPool } from './job.ts';

/** The longest a job may be registered or renewed for at once; orchestrators renew long jobs. */
export const MAX_JOB_LIFETIME_MS = 30 * 86_400_000;
const MAX_OWNERS = 64;
const MAX_SERVICES = 32;

/** What an orchestrator or operator gives to register a job. */
export type NewJob = Pick<Job, 'name' | 'projectName' | 'host' | 'sshPort' | 'loginUser' | 'clientCidrs' | 'services' | 'hostKey' | 'expiresAt'> & {
  /** User names (a Job keeps their ids); empty = every member of the project. */
  owners: string[];
  /** `x11` / `agent` as given (checked here); absent or empty = neither (each must be allowed by the operator). */
  forwarding?: string[];
};

/** Job administration. `onEnded` lets the gateway close the job's listener and sessions at once. */
export class JobsService {
  readonly #store: Pick<Store, 'jobs' | 'projects' | 'users'>;
  readonly #clock: Clock;
  readonly #audit: Auditor;
  readonly #pool: PortPool | null;
  readonly #forwardingAllowed: readonly JobForwarding[];

  /** `forwardingAllowed`: what jobs may be registered with (`AIRLOCK_JOB_FORWARDING`); default nothing. */
  constructor(deps: { store: Pick<Store, 'jobs' | 'projects' | 'users'>; clock: Clock; audit: Auditor; pool: PortPool | null; forwardingAllowed?: readonly JobForwarding[] }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#audit = deps.audit;
    this.#pool = deps.pool;
    this.#forwardingAllowed = deps.forwardingAllowed ?? [];
  }

  /** Registers a job and allocates its port; `onlyProjectId` binds a scoped token to its project. */
  async create(input: NewJob, actor: Actor, opts: { onlyProjectId?: string | null } = {}): Promise<Job> {
    const pool = this.#pool;
    if (pool === null) throw new AirlockError('unavailable', 'Per-job endpoints are off on this server: the operator sets AIRLOCK_JOB_PORTS (e.g. 40000-40999).');
    const now = this.#clock.now();
    checkTargetName(input.name);
    checkProjectName(input.projectName);
    const host = parseHost(input.host);
    checkPort(input.sshPort, 'SSH port');
    checkLoginUser(input.loginUser);
    const clientCidrs = canonicalCidrs(input.clientCidrs);
    if (input.services.length > MAX_SERVICES) throw new AirlockError('bad_request', `A job has at most ${MAX_SERVICES} services.`);
    for (const s of input.services) {
      checkTargetName(s.name);
      checkPort(s.port, `port of service ${s.name}`);
    }
    // Never trust on first use (checklist 12): the job's host key, or a host certificate from the host CA.
    if (input.hostKey === null) throw new AirlockError('bad_request', 'Give "host_key": the job sshd\'s host public key, or its host certificate from airlock admin host-cert.');
    if (input.hostKey.trim().split(/\s+/, 1)[0]?.endsWith('-cert-v01@openssh.com') === true) parseCertificate(input.hostKey.trim());
    else parsePublicKey(input.hostKey);
    this.#checkExpiry(input.expiresAt, now);
    const forwarding = this.#checkForwarding(input.forwarding ?? []);
    const project = await this.#store.projects.byName(input.projectName);
    if (project === undefined) throw new AirlockError('not_found', `No project named "${input.projectName.slice(0, 64)}"; see airlock admin project list.`);
    if (opts.onlyProjectId != null && project.id !== opts.onlyProjectId) {
      throw new AirlockError('forbidden', `This token may only register jobs in its own project, not in ${project.name}.`);
    }
    if (input.owners.length > MAX_OWNERS) throw new AirlockError('bad_request', `A job has at most ${MAX_OWNERS} owners; leave owners empty for the whole project.`);
    const members = new Map((await this.#store.projects.members(project.id)).map((m) => [m.userName, m.userId]));
    const owners: string[] = [];
    for (const name of new Set(input.owners)) {
      const id = members.get(name);
      if (id === undefined) throw new AirlockError('bad_request', `"${name.slice(0, 64)}" is not a member of project ${project.name}; owners must be members.`);
      owners.push(id);
    }
    const job = await this.#store.jobs.create({
      name: input.name, projectId: project.id, owners, host, sshPort: input.sshPort, loginUser: input.loginUser, clientCidrs,
      services: input.services.map((s) => ({ name: s.name, port: s.port })), forwarding, hostKey: input.hostKey === null ? null : input.hostKey.trim(),
      expiresAt: input.expiresAt, createdBy: actor.name,
    }, pool, now);
    await this.#record('job.create', actor, {
      job: job.id, name: job.name, project: project.name, port: job.port, host: job.host, ssh_port: job.sshPort, expires_at: job.expiresAt, client_cidrs: clientCidrs, owners: input.owners,
      forwarding,
    });
    return job;
  }

  /** A job by id, if the caller's token may see it. */
  async get(id: string, opts: { onlyProjectId?: string | null } = {}): Promise<Job> {
    // Ids are UUIDs: checked before the lookup (anything else in a path segment could upset the database).
    if (!/^[0-9a-f-]{36}$/.test(id)) throw new AirlockError('not_found', 'No such job; see airlock admin job list.');
    const job = await this.#store.jobs.byId(id);
    if (job === undefined || (opts.onlyProjectId != null && job.projectId !== opts.onlyProjectId)) throw new AirlockError('not_found', 'No such job; see airlock admin job list.');
    return job;
  }

  /** Jobs, newest first; live ones only unless `all`. */
  list(opts: { onlyProjectId?: string | null; all?: boolean } = {}): Promise<Job[]> {
    return this.#store.jobs.list({
      ...(opts.onlyProjectId != null ? { projectId: opts.onlyProjectId } : {}),
      ...(opts.all === true ? {} : { liveAt: this.#clock.now() }),
    });
  }

  /** The live jobs a user may enter. */
  forUser(userId: string): Promise<Job[]> {
    return this.#store.jobs.listForUser(userId, this.#clock.now());
  }

  /** Moves a live job's expiry. */
  async renew(id: string, expiresAt: number, actor: Actor, opts: { onlyProjectId?: string | null } = {}): Promise<Job> {
    const job = await this.get(id, opts);
    const now = this.#clock.now();
    this.#checkExpiry(expiresAt, now);
    const renewed = await this.#store.jobs.renew(job.id, expiresAt, now);
    if (renewed === undefined) throw new AirlockError('conflict', 'The job has already ended or expired; register a new job.');
    await this.#record('job.renew', actor, { job: job.id, name: job.name, expires_at: expiresAt });
    return renewed;
  }

  /** Ends a job now: its port stops accepting and its sessions are closed (within a second on every replica). */
  async end(id: string, actor: Actor, opts: { onlyProjectId?: string | null } = {}): Promise<Job> {
    const job = await this.get(id, opts);
    const now = this.#clock.now();
    if (!jobLive(job, now)) return job;
    const ended = (await this.#store.jobs.end(job.id, now)) ?? { ...job, endedAt: now };
    await this.#record('job.end', actor, { job: job.id, name: job.name, port: job.port });
    return ended;
  }

  /** The job's connection log. */
  async events(id: string, opts: { onlyProjectId?: string | null } = {}): Promise<JobEvent[]> {
    return this.#store.jobs.events((await this.get(id, opts)).id);
  }

  /**
   * X11 and agent forwarding are off unless the job names them, and a job may name only what the
   * operator allows on this server: agent forwarding lends the researcher's keys to whoever controls
   * the job (SECURITY.md), so an orchestrator's token alone cannot turn it on.
   */
  #checkForwarding(requested: readonly string[]): JobForwarding[] {
    const out: JobForwarding[] = [];
    for (const f of requested) {
      if (!(JOB_FORWARDING as readonly string[]).includes(f)) throw new AirlockError('bad_request', `"${f.slice(0, 32)}" is not a forwarding a job can allow; use ${JOB_FORWARDING.join(' or ')}.`);
      if (!this.#forwardingAllowed.includes(f as JobForwarding)) {
        throw new AirlockError('forbidden', `This server does not let jobs allow ${f === 'agent' ? 'agent' : 'X11'} forwarding; the operator enables it with AIRLOCK_JOB_FORWARDING.`);
      }
      if (!out.includes(f as JobForwarding)) out.push(f as JobForwarding);
    }
    return out;
  }

  #checkExpiry(expiresAt: number, now: number): void {
    if (!Number.isSafeInteger(expiresAt) || expiresAt <= now) throw new AirlockError('bad_request', 'A job\'s expiry must lie in the future.');
    if (expiresAt - now > MAX_JOB_LIFETIME_MS) throw new AirlockError('bad_request', 'A job may be registered or renewed for at most 30 days at a time.');
  }

  #record(type: string, actor: Actor, details: Record<string, unknown>): Promise<void> {
    return this.#audit.record({ type, outcome: 'success', actor: actor.name, clientAddress: actor.clientAddress, details });
  }
}

/** The job as the API and `--json` show it, with the ready command for a gateway at `gateway`. */
export function jobJson(job: Job, gateway: { host: string } | null): Record<string, unknown> {
  return {
    id: job.id, name: job.name, project: job.projectName, port: job.port, host: job.host, ssh_port: job.sshPort, login_user: job.loginUser,
    client_cidrs: job.clientCidrs, services: job.services, forwarding: job.forwarding, host_key: job.hostKey,
    created_at: new Date(job.createdAt).toISOString(), expires_at: new Date(job.expiresAt).toISOString(),
    ended_at: job.endedAt === null ? null : new Date(job.endedAt).toISOString(),
    ...(gateway === null ? {} : { gateway_host: gateway.host, command: jobCommand(job, gateway.host, null) }),
  };
}

/** `ssh -p PORT [-L …] user@gateway`: the ready command a researcher copies. */
export function jobCommand(job: Pick<Job, 'port' | 'services'>, gatewayHost: string, userName: string | null): string {
  const forwards = job.services.map((s) => `-L ${s.port}:localhost:${s.port}`).join(' ');
  const host = gatewayHost.includes(':') ? `[${gatewayHost}]` : gatewayHost;
  return `ssh -p ${job.port}${forwards ? ` ${forwards}` : ''} ${userName === null ? '' : `${userName}@`}${host}`;
}

/** A job log entry as the API and `--json` show it. */
export function jobEventJson(e: JobEvent): Record<string, unknown> {
  return {
    user: e.userName, client_address: e.clientAddress, port: e.port, started_at: new Date(e.startedAt).toISOString(),
    ended_at: e.endedAt === null ? null : new Date(e.endedAt).toISOString(), bytes_in: e.bytesIn, bytes_out: e.bytesOut, outcome: e.outcome, reason: e.reason,
  };
}
