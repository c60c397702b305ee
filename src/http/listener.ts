/**
 * The HTTP listener of `airlock serve` (@hono/node-server on node:http) and the security headers of
 * every response. The headers are hono's `secureHeaders()` defaults, and as with that middleware they
 * overwrite whatever a route set and X-Powered-By is removed. The middleware does it by setting each
 * header on `c.res.headers` after the route ran, which turns @hono/node-server's lightweight response
 * (a plain header object written in one go) into an undici Headers object that is then validated,
 * sorted and copied back, on every request. Here the listener's own response class writes them
 * instead, at the one moment every response passes through (`writeHead`, also the implicit one), so
 * nothing is materialised. An app served any other way (app.request() in tests, a
 * plain `serve()`) gets hono's middleware itself: `securityHeaders()` steps aside only when the
 * listener below will write the headers. security-headers.test.ts checks that both give the same
 * header set for every kind of route.
 */
import { ServerResponse, type IncomingMessage, type OutgoingHttpHeader, type OutgoingHttpHeaders } from 'node:http';
import { serve, type ServerType } from '@hono/node-server';
import type { MiddlewareHandler } from 'hono';
import { secureHeaders } from 'hono/secure-headers';

type FetchCallback = Parameters<typeof serve>[0]['fetch'];

/** hono `secureHeaders()` with its default options: the same names (lower case, as it sent them) and values. */
export const SECURITY_HEADERS: readonly (readonly [name: string, value: string])[] = [
  ['cross-origin-resource-policy', 'same-origin'],
  ['cross-origin-opener-policy', 'same-origin'],
  ['origin-agent-cluster', '?1'],
  ['referrer-policy', 'no-referrer'],
  ['strict-transport-security', 'max-age=15552000; includeSubDomains'],
  ['x-content-type-options', 'nosniff'],
  ['x-dns-prefetch-control', 'off'],
  ['x-download-options', 'noopen'],
  ['x-frame-options', 'SAMEORIGIN'],
  ['x-permitted-cross-domain-policies', 'none'],
  ['x-xss-protection', '0'],
];

/** A response that adds SECURITY_HEADERS over the route's own headers when its head is written. */
export class SecureHeadersResponse<Incoming extends IncomingMessage = IncomingMessage> extends ServerResponse<Incoming> {
  override writeHead(statusCode: number, reasonOrHeaders?: string | OutgoingHttpHeaders | OutgoingHttpHeader[], maybeHeaders?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this {
    const reason = typeof reasonOrHeaders === 'string' ? reasonOrHeaders : undefined;
    const headers = typeof reasonOrHeaders === 'string' ? maybeHeaders : (reasonOrHeaders ?? maybeHeaders);
    // A second head, or headers Node would refuse: Node's own error, unchanged.
    if (this.headersSent || (Array.isArray(headers) && headers.length % 2 !== 0)) return super.writeHead(statusCode, reason, headers);
    // The route's headers first (as writeHead would merge them), lower-cased as the Headers object did...
    if (Array.isArray(headers)) {
      for (let i = 0; i < headers.length; i += 2) {
        const name = headers[i];
        if (name) this.setHeader(String(name).toLowerCase(), headers[i + 1]!);
      }
    } else if (headers) {
      for (const name of Object.keys(headers)) {
        if (name) this.setHeader(name.toLowerCase(), headers[name]!);
      }
    }
    // ...then the security headers over them: a route cannot weaken one.
    for (const [name, value] of SECURITY_HEADERS) this.setHeader(name, value);
    this.removeHeader('x-powered-by');
    return reason === undefined ? super.writeHead(statusCode) : super.writeHead(statusCode, reason);
  }
}

/** The security headers middleware: hono's `secureHeaders()`, unless the listener below writes them. */
export function securityHeaders(): MiddlewareHandler {
  const middleware = secureHeaders();
  return async (c, next) => {
    const env = c.env as { outgoing?: unknown } | undefined;
    if (env?.outgoing instanceof SecureHeadersResponse) return next();
    return middleware(c, next);
  };
}

/** Serves `fetch` (a Hono app's) on node:http with the security headers written by the response. */
export function serveHttp(fetch: FetchCallback, listen: { hostname: string; port: number }): ServerType {
  return serve({ fetch, hostname: listen.hostname, port: listen.port, serverOptions: { ServerResponse: SecureHeadersResponse } });
}
