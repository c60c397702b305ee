/**
 * Jobs, their gateway ports and their connection log on Kysely (migrations/0005_jobs.ts). Port
 * allocation is atomic without relying on isolation levels: each candidate port is claimed by an insert
 * of its row (the port is the primary key) or by an update conditional on the quarantine having passed;
 * a concurrent claim of the same port makes one of them fail or update nothing, and it moves on.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import { AirlockError } from '../errors.ts';
import { JOB_FORWARDING, type Job, type JobEvent, type JobForwarding, type JobRepository, type JobService, type NewJobEvent, type NewJobRecord, type PortPool } from '../jobs/job.ts';
import { isUniqueViolation } from './db-errors.ts';
import { toInt, toIntOrNull, toStringArray } from './row-values.ts';
import type { Database, JobEventsTable, JobsTable } from './schema.ts';

type JobRow = Selectable<JobsTable> & { project_name: string };

/** Attempts at claiming a port before giving up (each failed attempt lost a race for one port). */
const MAX_CLAIM_ATTEMPTS = 64;

/** The job repository over a Kysely database. */
export function jobsRepository(db: Kysely<Database>): JobRepository {
  const selectJobs = () =>
    db.selectFrom('jobs').innerJoin('projects', 'projects.id', 'jobs.project_id').selectAll('jobs').select('projects.name as project_name');

  /** Claims one free port of the pool for `jobId`, held until `heldUntil`; undefined when none is free. */
  async function claimPort(jobId: string, pool: PortPool, heldUntil: number, now: number): Promise<number | undefined> {
    const freeBefore = now - pool.quarantineMs;
    for (let attempt = 0; attempt < MAX_CLAIM_ATTEMPTS; attempt++) {
      const rows = await db.selectFrom('job_ports').select(['port', 'held_until'])
        .where('port', '>=', pool.first).where('port', '<=', pool.last).execute();
      const used = new Map(rows.map((r) => [toInt(r.port, 'job_ports.port'), toInt(r.held_until, 'job_ports.held_until')]));
      // Never-used ports first (lowest), then the longest-released: a stale `ssh -p` is least likely there.
      let candidate: number | undefined;
      for (let p = pool.first; p <= pool.last && candidate === undefined; p++) if (!used.has(p)) candidate = p;
      if (candidate === undefined) {
        let oldest = Number.POSITIVE_INFINITY;
        for (const [p, held] of used) if (held <= freeBefore && held < oldest) { oldest = held; candidate = p; }
      }
      if (candidate === undefined) return undefined;
      if (!used.has(candidate)) {
        try {
          await db.insertInto('job_ports').values({ port: candidate, job_id: jobId, held_until: heldUntil }).execute();
          return candidate;
        } catch (err) {
          if (isUniqueViolation(err)) continue;
          throw err;
        }
      }
      const r = await db.updateTable('job_ports').set({ job_id: jobId, held_until: heldUntil })
        .where('port', '=', candidate).where('held_until', '<=', freeBefore).executeTakeFirst();
      if (r.numUpdatedRows > 0n) return candidate;
    }
    throw new AirlockError('unavailable', 'No job port could be allocated because of contention; try again.');
  }

  async function one(id: string): Promise<Job | undefined> {
    const row = await selectJobs().where('jobs.id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : toJob(row);
  }

  return {
    async create(job: NewJobRecord, pool: PortPool, now: number): Promise<Job> {
      const id = randomUUID();
      const port = await claimPort(id, pool, job.expiresAt, now);
      if (port === undefined) {
        throw new AirlockError('unavailable', `All job ports (${pool.first}-${pool.last}) are in use or in quarantine; end a job or widen AIRLOCK_JOB_PORTS.`);
      }
      try {
        await db.insertInto('jobs').values({
          id, name: job.name, project_id: job.projectId, owners: JSON.stringify(job.owners), host: job.host, ssh_port: job.sshPort,
          login_user: job.loginUser, client_cidrs: JSON.stringify(job.clientCidrs), services: JSON.stringify(job.services), forwarding: JSON.stringify(job.forwarding),
          host_key: job.hostKey, port, created_at: now, expires_at: job.expiresAt, ended_at: null, created_by: job.createdBy,
        }).execute();
      } catch (err) {
        // The port goes back at once: no one was ever told about it.
        await db.deleteFrom('job_ports').where('port', '=', port).where('job_id', '=', id).execute();
        throw err;
      }
      const stored = await one(id);
      if (stored === undefined) throw new AirlockError('internal', 'the job was stored without its project');
      return stored;
    },

    byId: one,

    async list(options: { projectId?: string; liveAt?: number } = {}): Promise<Job[]> {
      let q = selectJobs();
      if (options.projectId !== undefined) q = q.where('jobs.project_id', '=', options.projectId);
      if (options.liveAt !== undefined) q = q.where('jobs.ended_at', 'is', null).where('jobs.expires_at', '>', options.liveAt);
      return (await q.orderBy('jobs.created_at', 'desc').orderBy('jobs.id').execute()).map(toJob);
    },

    async listForUser(userId: string, now: number): Promise<Job[]> {
      const rows = await selectJobs()
        .innerJoin('project_members', 'project_members.project_id', 'jobs.project_id')
        .where('project_members.user_id', '=', userId)
        .where('jobs.ended_at', 'is', null).where('jobs.expires_at', '>', now)
        .orderBy('jobs.created_at', 'desc').orderBy('jobs.id')
        .execute();
      return rows.map(toJob).filter((j) => j.owners.length === 0 || j.owners.includes(userId));
    },

    async renew(id: string, expiresAt: number, now: number): Promise<Job | undefined> {
      const r = await db.transaction().execute(async (trx) => {
        const u = await trx.updateTable('jobs').set({ expires_at: expiresAt })
          .where('id', '=', id).where('ended_at', 'is', null).where('expires_at', '>', now).executeTakeFirst();
        if (u.numUpdatedRows === 0n) return false;
        await trx.updateTable('job_ports').set({ held_until: expiresAt }).where('job_id', '=', id).execute();
        return true;
      });
      return r ? one(id) : undefined;
    },

    async end(id: string, now: number): Promise<Job | undefined> {
      const r = await db.transaction().execute(async (trx) => {
        const u = await trx.updateTable('jobs').set({ ended_at: now })
          .where('id', '=', id).where('ended_at', 'is', null).where('expires_at', '>', now).executeTakeFirst();
        if (u.numUpdatedRows === 0n) return false;
        // The quarantine counts from now, not from the expiry the job would have had.
        await trx.updateTable('job_ports').set({ held_until: now }).where('job_id', '=', id).execute();
        return true;
      });
      return r ? one(id) : undefined;
    },

    async addEvent(event: NewJobEvent): Promise<JobEvent> {
      const row: Selectable<JobEventsTable> = {
        id: randomUUID(), job_id: event.jobId, user_name: event.userName, client_address: event.clientAddress, port: event.port,
        started_at: event.startedAt, ended_at: event.endedAt ?? null, bytes_in: event.bytesIn ?? 0, bytes_out: event.bytesOut ?? 0,
        outcome: event.outcome, reason: event.reason,
      };
      await db.insertInto('job_events').values(row).execute();
      return toEvent(row);
    },

    async finishEvent(id, update): Promise<void> {
      await db.updateTable('job_events').set({
        ended_at: update.endedAt, bytes_in: update.bytesIn, bytes_out: update.bytesOut, outcome: update.outcome,
        ...(update.reason !== undefined ? { reason: update.reason } : {}),
      }).where('id', '=', id).execute();
    },

    async events(jobId: string, limit = 1_000): Promise<JobEvent[]> {
      const rows = await db.selectFrom('job_events').selectAll().where('job_id', '=', jobId)
        .orderBy('started_at').orderBy('id').limit(limit).execute();
      return rows.map(toEvent);
    },
  };
}

function toServices(text: string): JobService[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  if (!Array.isArray(parsed) || !parsed.every((s: unknown) => typeof s === 'object' && s !== null && typeof (s as JobService).name === 'string' && Number.isSafeInteger((s as JobService).port))) {
    throw new AirlockError('internal', 'the database holds a malformed jobs.services');
  }
  return (parsed as JobService[]).map((s) => ({ name: s.name, port: s.port }));
}

function toForwarding(text: string): JobForwarding[] {
  const values = toStringArray(text, 'jobs.forwarding');
  if (!values.every((v) => (JOB_FORWARDING as readonly string[]).includes(v))) throw new AirlockError('internal', 'the database holds a malformed jobs.forwarding');
  return values as JobForwarding[];
}

function toJob(row: JobRow): Job {
  return {
    id: row.id, name: row.name, projectId: row.project_id, projectName: row.project_name,
    owners: toStringArray(row.owners, 'jobs.owners'), host: row.host, sshPort: toInt(row.ssh_port, 'jobs.ssh_port'),
    loginUser: row.login_user, clientCidrs: toStringArray(row.client_cidrs, 'jobs.client_cidrs'), services: toServices(row.services),
    forwarding: toForwarding(row.forwarding),
    hostKey: row.host_key, port: toInt(row.port, 'jobs.port'), createdAt: toInt(row.created_at, 'jobs.created_at'),
    expiresAt: toInt(row.expires_at, 'jobs.expires_at'), endedAt: toIntOrNull(row.ended_at, 'jobs.ended_at'), createdBy: row.created_by,
  };
}

function toEvent(row: Selectable<JobEventsTable>): JobEvent {
  return {
    id: row.id, jobId: row.job_id, userName: row.user_name, clientAddress: row.client_address, port: toInt(row.port, 'job_events.port'),
    startedAt: toInt(row.started_at, 'job_events.started_at'), endedAt: toIntOrNull(row.ended_at, 'job_events.ended_at'),
    bytesIn: toInt(row.bytes_in, 'job_events.bytes_in'), bytesOut: toInt(row.bytes_out, 'job_events.bytes_out'),
    outcome: row.outcome, reason: row.reason,
  };
}
