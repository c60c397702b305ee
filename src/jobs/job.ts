/**
 * Jobs (PRODUCT.md "Per-job endpoints"): a target with an owner, a lifetime and a gateway port of its own,
 * reached with `ssh -p PORT user@gateway`. This file holds the domain types and the storage port; the
 * rules (who may create, how ports are allocated) live in jobs-service.ts, storage in store/jobs-repository.ts.
 */

/** A job's own service, reached from the researcher's machine with `-L`. */
export interface JobService {
  name: string;
  port: number;
}

/**
 * Session features a job may carry beyond the defaults, each off unless its registration names it (and
 * the operator allows it on the server, `AIRLOCK_JOB_FORWARDING`): X11 windows from the job, and the
 * researcher's ssh-agent forwarded into the job (`ssh -A`).
 */
export type JobForwarding = 'x11' | 'agent';

/** Every JobForwarding value, in the order they are shown. */
export const JOB_FORWARDING: readonly JobForwarding[] = ['x11', 'agent'];

export interface Job {
  id: string;
  name: string;
  projectId: string;
  projectName: string;
  /** User ids allowed in; empty = every member of the project. */
  owners: string[];
  /** The job's sshd. */
  host: string;
  sshPort: number;
  /** The account on the job that researchers log in as. */
  loginUser: string;
  /** Client CIDRs allowed to connect to the job's port; empty = anywhere. */
  clientCidrs: string[];
  services: JobService[];
  /** X11 and agent forwarding this job allows; empty (the default) = neither. */
  forwarding: JobForwarding[];
  /** The job's host key, pinned (authorized_keys form); null = trusted through the host CA. */
  hostKey: string | null;
  /** The gateway port that leads into this job. */
  port: number;
  createdAt: number;
  expiresAt: number;
  endedAt: number | null;
  createdBy: string | null;
}

/** A job as the service hands it to the store (validated, project resolved, owners as user ids). */
export type NewJobRecord = Omit<Job, 'id' | 'projectName' | 'port' | 'createdAt' | 'endedAt'>;

/** One connection to a job's port (Rescale's job log), or a refusal at its door. */
export interface JobEvent {
  id: string;
  jobId: string;
  /** Null when refused before authentication (a client outside the CIDRs). */
  userName: string | null;
  clientAddress: string;
  port: number;
  startedAt: number;
  endedAt: number | null;
  /** Bytes from the client, and to it. */
  bytesIn: number;
  bytesOut: number;
  /** `open`, `success`, `refused_cidr`, `refused_owner`, `refused_auth`, `ended` … */
  outcome: string;
  reason: string | null;
}

export type NewJobEvent = Omit<JobEvent, 'id' | 'endedAt' | 'bytesIn' | 'bytesOut'> & Partial<Pick<JobEvent, 'endedAt' | 'bytesIn' | 'bytesOut'>>;

/** Where gateway ports come from: `AIRLOCK_JOB_PORTS` and the quarantine before a port is reused. */
export interface PortPool {
  first: number;
  last: number;
  quarantineMs: number;
}

/** Whether a job is live at `now`: not ended and not expired (expiry is exclusive). */
export function jobLive(job: Pick<Job, 'endedAt' | 'expiresAt'>, now: number): boolean {
  return job.endedAt === null && job.expiresAt > now;
}

export interface JobRepository {
  /**
   * Stores a job and gives it a free port of the pool in one atomic step: a port held by a live job, or
   * released less than the quarantine ago, is never handed out. AirlockError('unavailable') when the
   * pool is exhausted.
   */
  create(job: NewJobRecord, pool: PortPool, now: number): Promise<Job>;
  byId(id: string): Promise<Job | undefined>;
  /** Jobs newest first; `projectId` narrows, `liveAt` keeps only those live then. */
  list(options?: { projectId?: string; liveAt?: number }): Promise<Job[]>;
  /** Live jobs the user may enter: owned by them, or by their whole project while they are a member. */
  listForUser(userId: string, now: number): Promise<Job[]>;
  /** A live job's new expiry (its port is held until then); undefined when the job is not live. */
  renew(id: string, expiresAt: number, now: number): Promise<Job | undefined>;
  /** Ends a live job now; its port enters quarantine. Undefined when it was not live. */
  end(id: string, now: number): Promise<Job | undefined>;
  /** Appends to the job's log. */
  addEvent(event: NewJobEvent): Promise<JobEvent>;
  /** Completes a log entry (end time, bytes, final outcome). */
  finishEvent(id: string, update: { endedAt: number; bytesIn: number; bytesOut: number; outcome: string; reason?: string | null }): Promise<void>;
  /** The job's log, oldest first, at most `limit` entries. */
  events(jobId: string, limit?: number): Promise<JobEvent[]>;
}
