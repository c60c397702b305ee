/** A small client for Airlock's HTTP API, turning error bodies back into AirlockErrors. */
import { AirlockError, type ErrorCode } from '../errors.ts';

export interface ApiClientOptions {
  server: string;
  token?: string;
  timeoutMs?: number;
}

/** Calls the API and returns the parsed JSON (or the raw bytes for binary endpoints). */
export async function apiRequest<T>(opts: ApiClientOptions, method: string, path: string, body?: unknown): Promise<T> {
  const url = new URL(path, opts.server.endsWith('/') ? opts.server : opts.server + '/');
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers,
      body: body === undefined ? null : JSON.stringify(body),
      signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000),
    });
  } catch (cause) {
    const reason = cause instanceof Error && cause.cause instanceof Error ? cause.cause.message : String(cause);
    throw new AirlockError('unavailable', `Cannot reach the Airlock server at ${url.origin} (${reason}); check the --server URL and your network.`, { cause });
  }
  if (res.status === 204) return undefined as T;
  const type = res.headers.get('content-type') ?? '';
  if (!type.includes('application/json')) {
    if (res.ok) return Buffer.from(await res.arrayBuffer()) as T;
    throw new AirlockError('unavailable', `The server at ${url.origin} answered ${res.status} ${res.statusText}; is this an Airlock server?`);
  }
  const json = (await res.json()) as { error?: { code?: string; message?: string; details?: Record<string, unknown> } };
  if (!res.ok) {
    const code = (json.error?.code ?? 'internal') as ErrorCode;
    throw new AirlockError(code, json.error?.message ?? `The server answered ${res.status}.`, json.error?.details ? { details: json.error.details } : undefined);
  }
  return json as T;
}
