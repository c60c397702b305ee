/**
 * The inventory over HTTP. Two kinds of caller:
 * - a signed-in person (session token): their own keys (`/api/v1/keys`) and the targets they may
 *   reach (`GET /api/v1/targets`);
 * - an orchestrator (API token with scopes, optionally bound to one project) or an operator's
 *   session: registering and removing targets (`targets:write`), listing them (`targets:read`), and
 *   fetching a project's keys as authorized_keys or cloud-init user data (`keys:read`).
 * Policy (who may do what) lives in src/inventory; this file only translates.
 */
import { Hono, type Context } from 'hono';
import type { Clock } from '../clock.ts';
import { AirlockError } from '../errors.ts';
import { jsonBody, optionalArray, optionalExpiry, optionalString, requiredString } from './request.ts';
import type { SessionTokens } from '../identity/session-tokens.ts';
import { authorizeScope } from '../inventory/api-scopes.ts';
import { authenticateCaller, callerActor, type CallerEnv } from './api-caller.ts';
import type { Inventory } from '../inventory/inventory.ts';
import { keyJson, targetJson } from '../inventory/json-views.ts';
import type { KeyRegistry } from '../inventory/key-registry.ts';
import type { NewTarget, TargetService } from '../inventory/ports.ts';
import { parseServiceSpec } from '../inventory/service-spec.ts';
import { DEFAULT_SSH_PORT, checkProjectName, checkTargetName, parseAddress } from '../inventory/target-validation.ts';
import type { Store } from '../store/repositories.ts';

export interface InventoryRouteDeps {
  inventory: Inventory;
  keyRegistry: KeyRegistry;
  tokens: SessionTokens;
  store: Store;
  clock: Clock;
}

type Env = CallerEnv;

/** A service given as a `NAME=PORT[/path][?token=T]` string or as `{name, port, path?, token?}`. */
function serviceFrom(value: unknown): TargetService {
  if (typeof value === 'string') return parseServiceSpec(value);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new AirlockError('bad_request', 'Each service must be "NAME=PORT[/path][?token=T]" or an object {name, port, path, token}.');
  }
  const o = value as Record<string, unknown>;
  const nullableString = (k: string): string | null => {
    const v = o[k];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string') throw new AirlockError('bad_request', `The service field "${k}" must be a string.`);
    return v;
  };
  if (typeof o.name !== 'string' || typeof o.port !== 'number') throw new AirlockError('bad_request', 'Each service object needs a string "name" and a number "port".');
  // The inventory validates every field; this only gives it the right shape.
  return { name: o.name, port: o.port, path: nullableString('path'), token: nullableString('token') };
}

/** Turns a POST /api/v1/targets body into a NewTarget (the inventory validates the values). */
function newTargetFrom(body: Record<string, unknown>, defaultProject: string | undefined, now: number): NewTarget {
  const address = optionalString(body, 'address', 300);
  const host = optionalString(body, 'host', 300);
  if ((address === undefined) === (host === undefined)) throw new AirlockError('bad_request', 'Give either "address" ("HOST:PORT") or "host" (with an optional "port").');
  let where: { host: string; port: number };
  if (address !== undefined) {
    if (body.port != null) throw new AirlockError('bad_request', 'Give the port inside "address", or use "host" and "port".');
    where = parseAddress(address);
  } else {
    const port = body.port ?? DEFAULT_SSH_PORT;
    if (typeof port !== 'number') throw new AirlockError('bad_request', 'The field "port" must be a number.');
    where = { host: host!, port };
  }
  const projectName = optionalString(body, 'project', 64) ?? defaultProject;
  if (projectName === undefined) throw new AirlockError('bad_request', 'The field "project" is required.');
  const allowedCidrs = optionalArray(body, 'allowed_cidrs').map((c) => {
    if (typeof c !== 'string') throw new AirlockError('bad_request', 'The field "allowed_cidrs" must be a list of strings.');
    return c;
  });
  return {
    name: requiredString(body, 'name', 63),
    projectName,
    host: where.host,
    port: where.port,
    loginUser: optionalString(body, 'login_user', 32) ?? null,
    services: optionalArray(body, 'services').map(serviceFrom),
    allowedCidrs,
    expiresAt: optionalExpiry(body, now),
  };
}

/** The inventory routes, to be mounted on the main app (which maps errors and limits bodies). */
export function inventoryRoutes(deps: InventoryRouteDeps): Hono<Env> {
  const app = new Hono<Env>();

  const authenticated = authenticateCaller(deps);
  const actorOf = callerActor;
  /** Personal keys belong to people: an orchestrator's token never reads or changes them. */
  const person = (c: Context<Env>) => {
    const caller = c.get('caller');
    if (caller.token.kind !== 'session') throw new AirlockError('forbidden', 'API tokens cannot manage personal keys; sign in as the key\'s owner (airlock login).');
    return caller.user;
  };
  /** The project named in the path, if the caller (with `keys:read`) may read it. */
  const readableProject = async (c: Context<Env>) => {
    const { projectId } = authorizeScope(c.get('caller'), 'keys:read');
    // Checked before any lookup: a path segment can carry anything (%00 makes PostgreSQL fail: a 500).
    const name = c.req.param('project') ?? '';
    checkProjectName(name);
    const project = await deps.inventory.project(name);
    if (projectId !== null && project.id !== projectId) throw new AirlockError('forbidden', `This token may only read the keys of its own project, not of ${project.name}.`);
    return project;
  };

  app.get('/api/v1/keys', authenticated, async (c) => {
    const keys = await deps.keyRegistry.listForUser(person(c).id);
    return c.json({ keys: keys.map(keyJson) });
  });

  app.post('/api/v1/keys', authenticated, async (c) => {
    const user = person(c);
    const body = await jsonBody(c);
    const key = await deps.keyRegistry.add(user, requiredString(body, 'public_key', 16_384), actorOf(c));
    return c.json(keyJson(key), 201);
  });

  app.delete('/api/v1/keys/:fingerprint', authenticated, async (c) => {
    const user = person(c);
    const removed = await deps.keyRegistry.remove(user, c.req.param('fingerprint') ?? '', actorOf(c));
    return c.json({ removed: removed.fingerprint });
  });

  app.get('/api/v1/targets', authenticated, async (c) => {
    const caller = c.get('caller');
    if (caller.token.kind === 'session') {
      return c.json({ targets: (await deps.inventory.targetsForUser(caller.user.id, deps.clock.now())).map(targetJson) });
    }
    const { projectId } = authorizeScope(caller, 'targets:read');
    const project = c.req.query('project');
    if (project !== undefined) checkProjectName(project);
    const targets = await deps.inventory.listTargets({ projectId, ...(project === undefined ? {} : { projectName: project }) });
    return c.json({ targets: targets.map(targetJson) });
  });

  app.post('/api/v1/targets', authenticated, async (c) => {
    const { projectId } = authorizeScope(c.get('caller'), 'targets:write');
    const body = await jsonBody(c);
    // A project-bound token may leave "project" out: its own project is meant.
    const defaultProject = projectId === null ? undefined : (await deps.store.projects.byId(projectId))?.name;
    const target = await deps.inventory.addTarget(newTargetFrom(body, defaultProject, deps.clock.now()), actorOf(c), { onlyProjectId: projectId });
    return c.json(targetJson(target), 201);
  });

  app.delete('/api/v1/targets/:name', authenticated, async (c) => {
    const { projectId } = authorizeScope(c.get('caller'), 'targets:write');
    const name = c.req.param('name') ?? '';
    checkTargetName(name);
    const removed = await deps.inventory.removeTarget(name, actorOf(c), { onlyProjectId: projectId });
    return c.json({ removed: removed.name });
  });

  app.get('/api/v1/projects/:project/authorized_keys', authenticated, async (c) => {
    const text = await deps.keyRegistry.authorizedKeys(await readableProject(c));
    return c.body(text, 200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
  });

  app.get('/api/v1/projects/:project/cloud-init', authenticated, async (c) => {
    const text = await deps.keyRegistry.cloudInit(await readableProject(c));
    return c.body(text, 200, { 'Content-Type': 'text/cloud-config; charset=utf-8', 'Cache-Control': 'no-store' });
  });

  return app;
}
