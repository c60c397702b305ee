/** Projects and their memberships on Kysely: one row per project, one per (project, user) pair. */
import { randomUUID } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import { AirlockError } from '../errors.ts';
import type { Project, ProjectMember, ProjectRole } from '../inventory/ports.ts';
import { PROJECT_ROLES } from '../inventory/roles.ts';
import { isUniqueViolation } from './db-errors.ts';
import type { ProjectRepository } from './repositories.ts';
import { toInt, toOneOf } from './row-values.ts';
import type { Database, ProjectsTable } from './schema.ts';

/** The project repository over a Kysely database. */
export function projectsRepository(db: Kysely<Database>): ProjectRepository {
  return {
    async create(name: string, now: number): Promise<Project> {
      const row: Selectable<ProjectsTable> = { id: randomUUID(), name, created_at: now };
      try {
        await db.insertInto('projects').values(row).execute();
      } catch (err) {
        // The unique index decides, so two concurrent creations cannot both succeed.
        if (isUniqueViolation(err)) throw new AirlockError('conflict', `a project named ${name} already exists`, { cause: err });
        throw err;
      }
      return toProject(row);
    },

    async byName(name: string): Promise<Project | undefined> {
      const row = await db.selectFrom('projects').selectAll().where('name', '=', name).executeTakeFirst();
      return row === undefined ? undefined : toProject(row);
    },

    async byId(id: string): Promise<Project | undefined> {
      const row = await db.selectFrom('projects').selectAll().where('id', '=', id).executeTakeFirst();
      return row === undefined ? undefined : toProject(row);
    },

    async list(): Promise<Project[]> {
      return (await db.selectFrom('projects').selectAll().orderBy('name').execute()).map(toProject);
    },

    async setMember(projectId: string, userId: string, role: ProjectRole): Promise<'added' | 'updated'> {
      const update = () =>
        db.updateTable('project_members').set({ role }).where('project_id', '=', projectId).where('user_id', '=', userId).executeTakeFirst();
      if ((await update()).numUpdatedRows > 0n) return 'updated';
      try {
        await db.insertInto('project_members').values({ project_id: projectId, user_id: userId, role }).execute();
        return 'added';
      } catch (err) {
        // Someone added the same membership between our update and insert: theirs stands, with our role.
        if (!isUniqueViolation(err)) throw err;
        await update();
        return 'updated';
      }
    },

    async removeMember(projectId: string, userId: string): Promise<boolean> {
      const result = await db.deleteFrom('project_members').where('project_id', '=', projectId).where('user_id', '=', userId).executeTakeFirst();
      return result.numDeletedRows > 0n;
    },

    async members(projectId: string): Promise<ProjectMember[]> {
      const rows = await db
        .selectFrom('project_members')
        .innerJoin('users', 'users.id', 'project_members.user_id')
        .select(['project_members.project_id', 'project_members.user_id', 'project_members.role', 'users.name as user_name'])
        .where('project_members.project_id', '=', projectId)
        .orderBy('users.name')
        .execute();
      return rows.map((r) => ({
        projectId: r.project_id,
        userId: r.user_id,
        userName: r.user_name,
        role: toOneOf(r.role, PROJECT_ROLES, 'project_members.role'),
      }));
    },

    async projectsOfUser(userId: string): Promise<(Project & { role: ProjectRole })[]> {
      const rows = await db
        .selectFrom('project_members')
        .innerJoin('projects', 'projects.id', 'project_members.project_id')
        .select(['projects.id', 'projects.name', 'projects.created_at', 'project_members.role'])
        .where('project_members.user_id', '=', userId)
        .orderBy('projects.name')
        .execute();
      return rows.map((r) => ({ ...toProject(r), role: toOneOf(r.role, PROJECT_ROLES, 'project_members.role') }));
    },
  };
}

function toProject(row: Selectable<ProjectsTable>): Project {
  return { id: row.id, name: row.name, createdAt: toInt(row.created_at, 'projects.created_at') };
}
