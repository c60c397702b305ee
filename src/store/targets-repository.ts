/**
 * Targets and their services on Kysely. A target row carries its project; its services live in
 * `target_services` and go with it (ON DELETE CASCADE). Reads join the project for its name and load
 * the services of all returned targets in a few batched queries.
 */
import { randomUUID } from 'node:crypto';
import type { ExpressionBuilder, Kysely, Selectable } from 'kysely';
import { AirlockError } from '../errors.ts';
import type { Target, TargetService } from '../inventory/ports.ts';
import { isUniqueViolation } from './db-errors.ts';
import type { NewTargetRecord, TargetRepository } from './repositories.ts';
import { toInt, toIntOrNull, toStringArray } from './row-values.ts';
import type { Database, TargetServicesTable, TargetsTable } from './schema.ts';

type TargetRow = Selectable<TargetsTable> & { project_name: string };

/** Keeps `IN (…)` lists well below SQLite's and PostgreSQL's bound-parameter limits. */
const IN_BATCH = 500;

/**
 * Orders by name in code-unit order: SQL ORDER BY follows the database collation, which differs
 * between SQLite (binary) and PostgreSQL (often locale-aware), and listings must not.
 */
function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** "Not expired at `now`": no expiry, or an expiry still in the future (expiry is exclusive). */
function liveAt(now: number) {
  return (eb: ExpressionBuilder<Database, 'targets'>) => eb.or([eb('targets.expires_at', 'is', null), eb('targets.expires_at', '>', now)]);
}

/** The target repository over a Kysely database. */
export function targetsRepository(db: Kysely<Database>): TargetRepository {
  const selectTargets = () =>
    db.selectFrom('targets').innerJoin('projects', 'projects.id', 'targets.project_id').selectAll('targets').select('projects.name as project_name');

  async function withServices(rows: TargetRow[]): Promise<Target[]> {
    const byTarget = new Map<string, TargetService[]>();
    for (let i = 0; i < rows.length; i += IN_BATCH) {
      const ids = rows.slice(i, i + IN_BATCH).map((r) => r.id);
      const services = await db.selectFrom('target_services').selectAll().where('target_id', 'in', ids).execute();
      for (const s of services) {
        const list = byTarget.get(s.target_id) ?? [];
        list.push(toService(s));
        byTarget.set(s.target_id, list);
      }
    }
    return rows.map((r) => toTarget(r, (byTarget.get(r.id) ?? []).sort(byName))).sort(byName);
  }

  return {
    async create(target: NewTargetRecord, now: number): Promise<Target> {
      const row: Selectable<TargetsTable> = {
        id: randomUUID(),
        name: target.name,
        project_id: target.projectId,
        host: target.host,
        port: target.port,
        login_user: target.loginUser,
        allowed_cidrs: JSON.stringify(target.allowedCidrs),
        expires_at: target.expiresAt,
        created_at: now,
      };
      let projectName: string | undefined;
      try {
        await db.transaction().execute(async (trx) => {
          // An expired target is unreachable and hidden; an orchestrator reusing its name (a job id, a
          // VM name) gets a fresh target rather than a conflict with a ghost.
          await trx.deleteFrom('targets').where('name', '=', target.name).where('expires_at', '<=', now).execute();
          await trx.insertInto('targets').values(row).execute();
          if (target.services.length > 0) {
            await trx
              .insertInto('target_services')
              .values(target.services.map((s) => ({ target_id: row.id, name: s.name, port: s.port, path: s.path, token: s.token })))
              .execute();
          }
          projectName = (await trx.selectFrom('projects').select('name').where('id', '=', target.projectId).executeTakeFirst())?.name;
        });
      } catch (err) {
        if (isUniqueViolation(err)) throw new AirlockError('conflict', `a target named ${target.name} already exists`, { cause: err });
        throw err;
      }
      // The foreign key already guarantees the project exists; this only satisfies the type.
      if (projectName === undefined) throw new AirlockError('internal', 'the target was stored without its project');
      return toTarget({ ...row, project_name: projectName }, target.services.map((s) => ({ ...s })).sort(byName));
    },

    async byName(name: string): Promise<Target | undefined> {
      const row = await selectTargets().where('targets.name', '=', name).executeTakeFirst();
      return row === undefined ? undefined : (await withServices([row]))[0];
    },

    async list(options: { projectId?: string; validAt?: number } = {}): Promise<Target[]> {
      let query = selectTargets();
      if (options.projectId !== undefined) query = query.where('targets.project_id', '=', options.projectId);
      if (options.validAt !== undefined) query = query.where(liveAt(options.validAt));
      return withServices(await query.execute());
    },

    async listForUser(userId: string, now: number): Promise<Target[]> {
      const rows = await selectTargets()
        .innerJoin('project_members', 'project_members.project_id', 'targets.project_id')
        .where('project_members.user_id', '=', userId)
        .where(liveAt(now))
        .execute();
      return withServices(rows);
    },

    async remove(name: string, options: { projectId?: string } = {}): Promise<boolean> {
      let query = db.deleteFrom('targets').where('name', '=', name);
      if (options.projectId !== undefined) query = query.where('project_id', '=', options.projectId);
      return (await query.executeTakeFirst()).numDeletedRows > 0n;
    },
  };
}

function toService(row: Selectable<TargetServicesTable>): TargetService {
  return { name: row.name, port: toInt(row.port, 'target_services.port'), path: row.path, token: row.token };
}

function toTarget(row: TargetRow, services: TargetService[]): Target {
  return {
    id: row.id,
    name: row.name,
    projectId: row.project_id,
    projectName: row.project_name,
    host: row.host,
    port: toInt(row.port, 'targets.port'),
    loginUser: row.login_user,
    services,
    allowedCidrs: toStringArray(row.allowed_cidrs, 'targets.allowed_cidrs'),
    expiresAt: toIntOrNull(row.expires_at, 'targets.expires_at'),
    createdAt: toInt(row.created_at, 'targets.created_at'),
  };
}
