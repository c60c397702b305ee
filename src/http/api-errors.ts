/**
 * The one place that turns errors into HTTP responses. AirlockErrors keep their code and safe message;
 * anything else becomes a generic 500 so that internals (stack traces, SQL, paths) never reach a client.
 */
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { HTTPException } from 'hono/http-exception';
import { AirlockError, httpStatus } from '../errors.ts';

/** Builds the JSON error response for any thrown value. */
export function errorResponse(err: unknown, c: Context, log: (msg: string, err: unknown) => void): Response {
  if (err instanceof AirlockError) {
    const status = httpStatus(err.code) as ContentfulStatusCode;
    const headers: Record<string, string> = {};
    const retryAt = err.details?.retryAt ?? err.details?.next_possible_at;
    if (status === 429 && typeof retryAt === 'string') {
      headers['Retry-After'] = String(Math.max(1, Math.ceil((Date.parse(retryAt) - Date.now()) / 1000)));
    }
    return c.json({ error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } }, status, headers);
  }
  if (err instanceof HTTPException) {
    const status = err.status;
    return c.json({ error: { code: 'bad_request', message: err.message || 'Bad request.' } }, status);
  }
  log('unhandled error in HTTP request', err);
  return c.json({ error: { code: 'internal', message: 'Internal error; the operators can find details in the service log.' } }, 500);
}
