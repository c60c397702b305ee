/**
 * The portal's static files and its page headers. The stylesheet and the one script are served by the
 * app itself under /assets/, so every page can run under a Content-Security-Policy with neither
 * `unsafe-inline` nor `unsafe-eval`: an attacker who gets markup into a page (a crafted key comment,
 * say) can neither run a script nor restyle the page to mislead (CSP Level 3, OWASP XSS cheat sheet).
 */
import { createHash } from 'node:crypto';
import { Hono } from 'hono';
import { PORTAL_CSS } from './portal-css.ts';
import { portalScriptSource } from './portal-script.ts';

export const PORTAL_CSS_PATH = '/assets/portal.css';
export const PORTAL_JS_PATH = '/assets/portal.js';

/**
 * The policy of every HTML page: only this origin's stylesheet and script, fetch() only to this
 * origin (the browser key generation posts the public key), images from here or data: (QR codes),
 * forms only to this origin, never framed (clickjacking), no <base> rewriting.
 */
export const PORTAL_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Headers of every HTML page: about one person's secrets, so never cached, never framed. */
export const PAGE_HEADERS: Record<string, string> = {
  'Cache-Control': 'no-store',
  'Content-Security-Policy': PORTAL_CSP,
};

function etag(body: string): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
}

/** GET /assets/portal.css and /assets/portal.js. */
export function assetRoutes(): Hono {
  const app = new Hono();
  const files: [string, string, string][] = [
    [PORTAL_CSS_PATH, 'text/css; charset=utf-8', PORTAL_CSS],
    [PORTAL_JS_PATH, 'text/javascript; charset=utf-8', portalScriptSource()],
  ];
  for (const [path, type, body] of files) {
    const tag = etag(body);
    app.get(path, (c) => {
      // Revalidated (not immutable): a new release must reach browsers at once; the ETag makes that cheap.
      if (c.req.header('if-none-match') === tag) return c.body(null, 304, { ETag: tag });
      return c.body(body, 200, { 'Content-Type': type, 'Cache-Control': 'no-cache', ETag: tag, 'X-Content-Type-Options': 'nosniff' });
    });
  }
  return app;
}
