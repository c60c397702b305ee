/**
 * The inventory: projects, their members, and the targets (VMs, jobs, compute nodes) members may
 * reach, with services and expiry. Reads serve the gateway (InventoryPort); writes come from
 * `airlock admin`, the web app and orchestrators' API tokens, are validated here and audited.
 */
import type { Auditor } from '../audit/auditor.ts';
import type { Clock } from '../clock.ts';
import { AirlockError } from '../errors.ts';
import type { Store, User } from '../store/repositories.ts';
import type { Actor, InventoryPort, NewTarget, Project, ProjectMember, ProjectRole, Target } from './ports.ts';
import { isProjectRole } from './roles.ts';
import { checkServices } from './service-spec.ts';
import { canonicalCidrs, checkLoginUser, checkPort, checkProjectName, checkTargetName, parseHost } from './target-validation.ts';

/** A project with its members, as listings show it. */
export type ProjectWithMembers = Project & { members: ProjectMember[] };

export class Inventory implements InventoryPort {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #audit: Auditor;

  constructor(deps: { store: Store; clock: Clock; audit: Auditor }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#audit = deps.audit;
  }

  // ---- reads (InventoryPort) ----

  /** Targets the user may reach now (member of the target's project, not expired), by name. */
  targetsForUser(userId: string, now: number): Promise<Target[]> {
    return this.#store.targets.listForUser(userId, now);
  }

  /** A target by name, or undefined (expired ones included; callers check `expiresAt`). */
  targetByName(name: string): Promise<Target | undefined> {
    return this.#store.targets.byName(name);
  }

  /** The user's project memberships. */
  projectsOfUser(userId: string): Promise<(Project & { role: ProjectRole })[]> {
    return this.#store.projects.projectsOfUser(userId);
  }

  // ---- projects and members ----

  /** A project by name; not_found when there is none. */
  async project(name: string): Promise<Project> {
    const project = await this.#store.projects.byName(name);
    if (project === undefined) throw new AirlockError('not_found', `No project named "${name.slice(0, 64)}"; see airlock admin project list.`);
    return project;
  }

  /** Creates a project; conflict when the name is taken. */
  async addProject(name: string, actor: Actor): Promise<Project> {
    checkProjectName(name);
    const project = await this.#store.projects.create(name, this.#clock.now());
    await this.#record('inventory.project_add', actor, { project: name });
    return project;
  }

  /** Every project with its members, by name. */
  async listProjects(): Promise<ProjectWithMembers[]> {
    const projects = await this.#store.projects.list();
    return Promise.all(projects.map(async (p) => ({ ...p, members: await this.#store.projects.members(p.id) })));
  }

  /** Adds a user to a project, or changes their role; says which. */
  async addMember(projectName: string, userName: string, role: ProjectRole, actor: Actor): Promise<'added' | 'updated'> {
    if (!isProjectRole(role)) throw new AirlockError('bad_request', `"${String(role).slice(0, 32)}" is not a role: use member, pi or admin.`);
    const project = await this.project(projectName);
    const user = await this.#user(userName);
    const result = await this.#store.projects.setMember(project.id, user.id, role);
    await this.#record('inventory.member_add', actor, { project: project.name, user: user.name, role, result });
    return result;
  }

  /** Removes a user from a project; not_found when they were not a member. */
  async removeMember(projectName: string, userName: string, actor: Actor): Promise<void> {
    const project = await this.project(projectName);
    const user = await this.#user(userName);
    if (!(await this.#store.projects.removeMember(project.id, user.id))) {
      throw new AirlockError('not_found', `${user.name} is not a member of project ${project.name}.`);
    }
    await this.#record('inventory.member_remove', actor, { project: project.name, user: user.name });
  }

  // ---- targets ----

  /**
   * Validates and registers a target. `onlyProjectId` limits the call to one project (an API token
   * bound to a project): a target for another project is refused as forbidden.
   */
  async addTarget(input: NewTarget, actor: Actor, opts: { onlyProjectId?: string | null } = {}): Promise<Target> {
    const now = this.#clock.now();
    checkTargetName(input.name);
    const host = parseHost(input.host);
    checkPort(input.port, 'SSH port');
    if (input.loginUser !== null) checkLoginUser(input.loginUser);
    checkServices(input.services);
    const allowedCidrs = canonicalCidrs(input.allowedCidrs);
    if (input.expiresAt !== null && (!Number.isSafeInteger(input.expiresAt) || input.expiresAt <= now)) {
      throw new AirlockError('bad_request', 'The expiry must lie in the future.');
    }
    const project = await this.project(input.projectName);
    if (opts.onlyProjectId != null && project.id !== opts.onlyProjectId) {
      throw new AirlockError('forbidden', `This token may only register targets in its own project, not in ${project.name}.`);
    }
    const target = await this.#store.targets.create(
      {
        name: input.name,
        projectId: project.id,
        host,
        port: input.port,
        loginUser: input.loginUser,
        services: input.services.map((s) => ({ name: s.name, port: s.port, path: s.path, token: s.token })),
        allowedCidrs,
        expiresAt: input.expiresAt,
      },
      now,
    );
    // Service tokens are secrets of the project's members: the audit names services, never tokens.
    await this.#record('inventory.target_add', actor, {
      target: target.name, project: project.name, host: target.host, port: target.port,
      services: target.services.map((s) => `${s.name}=${s.port}`), allowed_cidrs: target.allowedCidrs,
      expires_at: target.expiresAt === null ? null : new Date(target.expiresAt).toISOString(),
    });
    return target;
  }

  /**
   * Targets by name, optionally of one project; expired ones only with `includeExpired`.
   */
  async listTargets(opts: { projectName?: string; projectId?: string | null; includeExpired?: boolean } = {}): Promise<Target[]> {
    let projectId = opts.projectId ?? undefined;
    if (opts.projectName !== undefined) {
      const project = await this.project(opts.projectName);
      if (projectId !== undefined && projectId !== project.id) return [];
      projectId = project.id;
    }
    return this.#store.targets.list({
      ...(projectId === undefined ? {} : { projectId }),
      ...(opts.includeExpired ? {} : { validAt: this.#clock.now() }),
    });
  }

  /**
   * Removes a target (at once unreachable: the gateway reads the inventory on every connection).
   * With `onlyProjectId`, a target of another project is reported as not found, so a project's token
   * learns nothing about other projects' targets.
   */
  async removeTarget(name: string, actor: Actor, opts: { onlyProjectId?: string | null } = {}): Promise<Target> {
    const notFound = () => new AirlockError('not_found', `No target named "${name.slice(0, 64)}"${opts.onlyProjectId != null ? ' in this token\'s project' : ''}.`);
    const target = await this.#store.targets.byName(name);
    if (target === undefined || (opts.onlyProjectId != null && target.projectId !== opts.onlyProjectId)) throw notFound();
    // Deleting by name and project: if the target was replaced meanwhile, only one in the same project goes.
    if (!(await this.#store.targets.remove(name, { projectId: target.projectId }))) throw notFound();
    await this.#record('inventory.target_remove', actor, { target: target.name, project: target.projectName });
    return target;
  }

  async #user(name: string): Promise<User> {
    const user = await this.#store.users.byName(name);
    if (user === undefined) throw new AirlockError('not_found', `No user named "${name.slice(0, 64)}"; see airlock admin user list.`);
    return user;
  }

  #record(type: string, actor: Actor, details: Record<string, unknown>): Promise<void> {
    return this.#audit.record({ type, outcome: 'success', actor: actor.name, clientAddress: actor.clientAddress, details });
  }
}
