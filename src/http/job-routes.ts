/**
 * Jobs over HTTP (PRODUCT.md "Per-job endpoints"). Orchestrators (API token with `jobs:write`, usually
 * bound to one project) register, renew and end jobs and read their log; `jobs:read` lists them. A
 * signed-in researcher (session token) lists the live jobs they may enter, with the ready command.
 * Rules live in jobs/jobs-service.ts; this file only translates.
 */
import { Hono, type Context } from 'hono';
import type { Clock } from '../clock.ts';
import { AirlockError } from '../errors.ts';
import type { SessionTokens } from '../identity/session-tokens.ts';
import { authorizeScope } from '../inventory/api-scopes.ts';
import { authenticateCaller, callerActor, type CallerEnv } from './api-caller.ts';
import { parseServiceSpec } from '../inventory/service-spec.ts';
import type { JobService } from '../jobs/job.ts';
import { jobEventJson, jobJson, type JobsService, type NewJob } from '../jobs/jobs-service.ts';
import type { Store } from '../store/repositories.ts';
import { jsonBody, optionalArray, optionalExpiry, optionalString, requiredString } from './request.ts';

export interface JobRouteDeps {
  jobs: JobsService;
  tokens: SessionTokens;
  store: Pick<Store, 'tokens' | 'projects'>;
  clock: Clock;
  /** The host researchers connect to (for the ready command); null when unknown. */
  gatewayHost: () => string | null;
}

type Env = CallerEnv;

function strings(body: Record<string, unknown>, name: string): string[] {
  return optionalArray(body, name).map((v) => {
    if (typeof v !== 'string') throw new AirlockError('bad_request', `The field "${name}" must be a list of strings.`);
    return v;
  });
}

/** A service as `NAME=PORT` or `{name, port}`. */
function serviceFrom(value: unknown): JobService {
  if (typeof value === 'string') {
    const s = parseServiceSpec(value);
    return { name: s.name, port: s.port };
  }
  const o = value as Record<string, unknown> | null;
  if (typeof o !== 'object' || o === null || typeof o.name !== 'string' || typeof o.port !== 'number') {
    throw new AirlockError('bad_request', 'Each service must be "NAME=PORT" or an object {name, port}.');
  }
  return { name: o.name, port: o.port };
}

/** `expires_in` (a duration such as "8h", or seconds) or `expires_at` (ISO 8601): exactly one. */
export function jobExpiryFrom(body: Record<string, unknown>, now: number): number {
  // A job always has an end: where a target may have neither field, a job needs exactly one.
  if ((body.expires_in == null) === (body.expires_at == null)) throw new AirlockError('bad_request', 'Give exactly one of "expires_in" (e.g. "8h") or "expires_at" (ISO 8601): a job always has an end.');
  return optionalExpiry(body, now)!;
}

function newJobFrom(body: Record<string, unknown>, defaultProject: string | undefined, now: number): NewJob {
  const projectName = optionalString(body, 'project', 64) ?? defaultProject;
  if (projectName === undefined) throw new AirlockError('bad_request', 'The field "project" is required.');
  const sshPort = body.ssh_port ?? 22;
  if (typeof sshPort !== 'number') throw new AirlockError('bad_request', 'The field "ssh_port" must be a number.');
  return {
    name: requiredString(body, 'name', 63),
    projectName,
    owners: strings(body, 'owners'),
    host: requiredString(body, 'host', 300),
    sshPort,
    loginUser: requiredString(body, 'login_user', 32),
    clientCidrs: strings(body, 'client_cidrs'),
    services: optionalArray(body, 'services').map(serviceFrom),
    forwarding: strings(body, 'forwarding'),
    hostKey: optionalString(body, 'host_key', 16_384) ?? null,
    expiresAt: jobExpiryFrom(body, now),
  };
}

/** The job routes, to be mounted on the main app (which maps errors and limits bodies). */
export function jobRoutes(deps: JobRouteDeps): Hono<Env> {
  const app = new Hono<Env>();
  const authenticated = authenticateCaller(deps);
  const actorOf = callerActor;
  const writer = (c: Context<Env>) => authorizeScope(c.get('caller'), 'jobs:write');
  /** `jobs:read` or `jobs:write` (an orchestrator that writes may also read what it wrote). */
  const reader = (c: Context<Env>) => {
    try {
      return authorizeScope(c.get('caller'), 'jobs:read');
    } catch (err) {
      if (c.get('caller').token.kind !== 'api') throw err;
      return authorizeScope(c.get('caller'), 'jobs:write');
    }
  };
  const view = (job: Parameters<typeof jobJson>[0]) => {
    const host = deps.gatewayHost();
    return jobJson(job, host === null ? null : { host });
  };

  app.get('/api/v1/jobs', authenticated, async (c) => {
    const caller = c.get('caller');
    if (caller.token.kind === 'session' && c.req.query('all') === undefined) {
      return c.json({ jobs: (await deps.jobs.forUser(caller.user.id)).map(view) });
    }
    const { projectId } = reader(c);
    return c.json({ jobs: (await deps.jobs.list({ onlyProjectId: projectId, all: c.req.query('all') !== undefined })).map(view) });
  });

  app.post('/api/v1/jobs', authenticated, async (c) => {
    const { projectId } = writer(c);
    const body = await jsonBody(c);
    // A project-bound token may leave "project" out: its own project is meant.
    const defaultProject = projectId === null ? undefined : (await deps.store.projects.byId(projectId))?.name;
    const job = await deps.jobs.create(newJobFrom(body, defaultProject, deps.clock.now()), actorOf(c), { onlyProjectId: projectId });
    return c.json(view(job), 201);
  });

  app.get('/api/v1/jobs/:id', authenticated, async (c) => {
    const { projectId } = reader(c);
    return c.json(view(await deps.jobs.get(c.req.param('id') ?? '', { onlyProjectId: projectId })));
  });

  app.post('/api/v1/jobs/:id/renew', authenticated, async (c) => {
    const { projectId } = writer(c);
    const body = await jsonBody(c);
    const job = await deps.jobs.renew(c.req.param('id') ?? '', jobExpiryFrom(body, deps.clock.now()), actorOf(c), { onlyProjectId: projectId });
    return c.json(view(job));
  });

  app.delete('/api/v1/jobs/:id', authenticated, async (c) => {
    const { projectId } = writer(c);
    return c.json(view(await deps.jobs.end(c.req.param('id') ?? '', actorOf(c), { onlyProjectId: projectId })));
  });

  app.get('/api/v1/jobs/:id/events', authenticated, async (c) => {
    const { projectId } = reader(c);
    return c.json({ events: (await deps.jobs.events(c.req.param('id') ?? '', { onlyProjectId: projectId })).map(jobEventJson) });
  });

  return app;
}
