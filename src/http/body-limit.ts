/**
 * Request body limits, the rule of hono's `bodyLimit()` with a cheaper common case. Hono's middleware
 * first asks `c.req.raw.body`, which makes @hono/node-server build a full undici Request with a web
 * stream over the socket (about a quarter of the HTTP cost of an API call), only to learn that a body
 * exists. Under @hono/node-server the answer is known without that: GET and HEAD never carry a body,
 * and a Content-Length without Transfer-Encoding is the exact size (Node's parser refuses a body that
 * disagrees with it, and a request with both headers). Those cases are decided here exactly as hono
 * decides them; the handler then reads the body straight from the socket (`c.req.json()` and friends
 * take @hono/node-server's direct path). Everything else — chunked bodies, requests not from
 * @hono/node-server (app.request() in tests), TRACE — goes to hono's own middleware unchanged, which
 * counts the bytes as they arrive and stops at the limit.
 */
import type { IncomingMessage } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit as honoBodyLimit } from 'hono/body-limit';

/** A body limit of `maxSize` bytes; `onError` answers (or throws) for a larger body. */
export function bodyLimit(options: { maxSize: number; onError: (c: Context) => Response | Promise<Response> }): MiddlewareHandler {
  const { maxSize, onError } = options;
  const counting = honoBodyLimit(options);
  const limit: MiddlewareHandler = async (c, next) => {
    const env = c.env as { incoming?: IncomingMessage } | undefined;
    const method = c.req.method;
    if (env?.incoming === undefined || method === 'TRACE') return counting(c, next);
    if (method === 'GET' || method === 'HEAD') return next();
    const headers = c.req.raw.headers;
    if (headers.has('content-length') && !headers.has('transfer-encoding')) {
      return parseInt(headers.get('content-length') || '0', 10) > maxSize ? onError(c) : next();
    }
    return counting(c, next);
  };
  return limit;
}
