/** The signed-in user's live jobs from the API (`GET /api/v1/jobs`), for `airlock hosts`. */
import { AirlockError, isAirlockError } from '../errors.ts';
import { apiRequest } from './api-client.ts';
import type { ClientSession } from './client-state.ts';
import { table } from './output.ts';

export interface JobInfo {
  name: string;
  project: string;
  port: number;
  expiresAt: string;
  services: { name: string; port: number }[];
  gatewayHost: string;
}

/** The live jobs the user may enter; none from a server without per-job endpoints. */
export async function fetchJobs(session: Pick<ClientSession, 'server' | 'token'>): Promise<JobInfo[]> {
  let r: { jobs?: unknown };
  try {
    r = await apiRequest<{ jobs?: unknown }>({ server: session.server, token: session.token, timeoutMs: 15_000 }, 'GET', '/api/v1/jobs');
  } catch (err) {
    if (isAirlockError(err, 'not_found')) return [];
    throw err;
  }
  if (!Array.isArray(r.jobs)) throw new AirlockError('unavailable', 'The server sent a malformed job list; is it an Airlock server of the same version?');
  return r.jobs.flatMap((v: unknown) => {
    const j = v as Record<string, unknown>;
    if (typeof j !== 'object' || j === null || typeof j.name !== 'string' || typeof j.port !== 'number' || typeof j.gateway_host !== 'string') return [];
    const services = Array.isArray(j.services) ? (j.services as { name: unknown; port: unknown }[]).filter((s) => typeof s.name === 'string' && typeof s.port === 'number') as { name: string; port: number }[] : [];
    return [{ name: j.name, project: typeof j.project === 'string' ? j.project : '', port: j.port, expiresAt: typeof j.expires_at === 'string' ? j.expires_at : '', services, gatewayHost: j.gateway_host }];
  });
}

/** `ssh -p PORT [-L P:localhost:P …] user@gateway`. */
export function jobSshCommand(job: JobInfo, user: string): string {
  const host = job.gatewayHost.includes(':') ? `[${job.gatewayHost}]` : job.gatewayHost;
  return `ssh -p ${job.port}${job.services.map((s) => ` -L ${s.port}:localhost:${s.port}`).join('')} ${user}@${host}`;
}

/** The jobs table of `airlock hosts`. */
export function jobsTable(jobs: readonly JobInfo[], user: string): string {
  return table(['JOB', 'PROJECT', 'PORT', 'EXPIRES', 'CONNECT'], jobs.map((j) => [j.name, j.project, String(j.port), j.expiresAt.replace(/\.\d+Z$/, 'Z'), jobSshCommand(j, user)]));
}
