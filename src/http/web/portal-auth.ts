/**
 * What every signed-in portal page shares: the web session (the same cookie the sign-in pages set,
 * src/identity/web-sessions.ts), the viewer's roles, the CSRF token for its forms, the form reader with
 * the CSRF check, role gates that are checked on the server for every request (a hidden link is not
 * an access check), and errors rendered as pages inside the layout.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { AirlockError, httpStatus, isAirlockError } from '../../errors.ts';
import type { WebSessions } from '../../identity/web-sessions.ts';
import type { Inventory } from '../../inventory/inventory.ts';
import type { User, WebSessionRecord } from '../../store/repositories.ts';
import { clientAddress } from '../request.ts';
import { readForm } from './form.ts';
import { PAGE_HEADERS } from './assets.ts';
import { portalLayout, type Html, type Viewer } from './layout.ts';
import { messagePage } from './pages.ts';
import { SESSION_COOKIE, checkCsrf, csrfToken } from './web-security.ts';
import { html } from 'hono/html';

/** Variables a portal route can read after portalSession(). */
export type PortalEnv = { Variables: { user: User; viewer: Viewer; csrf: string; webSession: WebSessionRecord } };

/** What the portal needs to know who is signed in. */
export interface PortalAuthDeps {
  sessions: WebSessions;
  inventory: Pick<Inventory, 'projectsOfUser'>;
  /** The public base URL (no trailing slash). */
  baseUrl: () => string;
}

const MAX_FORM_FIELD = 32 * 1024;

/**
 * Requires a signed-in browser: without a valid session a GET goes to the sign-in page (and back
 * here after it), anything else is refused. Sets user, viewer, csrf and webSession.
 */
export function portalSession(deps: PortalAuthDeps): MiddlewareHandler<PortalEnv> {
  return async (c, next) => {
    const found = await deps.sessions.authenticate(getCookie(c, SESSION_COOKIE));
    if (found === undefined) {
      if (c.req.method === 'GET' || c.req.method === 'HEAD') return c.redirect(`/login?next=${encodeURIComponent(c.req.path)}`, 303);
      throw new AirlockError('unauthenticated', 'You are not signed in (or your session has ended). Sign in and try again.');
    }
    const projects = await deps.inventory.projectsOfUser(found.user.id);
    c.set('user', found.user);
    c.set('webSession', found.session);
    c.set('viewer', { name: found.user.name, isAdmin: found.user.isAdmin, isPi: projects.some((p) => p.role === 'pi') });
    c.set('csrf', csrfToken(c, deps.baseUrl()));
    await next();
  };
}

/** Refuses anyone but an admin (the operator pages). */
export const requireAdmin: MiddlewareHandler<PortalEnv> = async (c, next) => {
  if (!c.get('user').isAdmin) throw new AirlockError('forbidden', 'This page is for Airlock administrators only.');
  await next();
};

/** Reads a form POST and checks its CSRF token (double submit + same origin, web-security.ts). */
export async function portalForm(c: Context<PortalEnv>, baseUrl: string): Promise<Record<string, string>> {
  const out = await readForm(c, MAX_FORM_FIELD);
  checkCsrf(c, out, baseUrl);
  return out;
}

/** Who acts, for the audit log and the services. */
export function actorOf(c: Context<PortalEnv>): { name: string; clientAddress: string | null } {
  return { name: c.get('user').name, clientAddress: clientAddress(c) };
}

/** Renders a page inside the portal layout with the portal's headers (CSP, no-store). */
export function renderPortal(c: Context<PortalEnv>, title: string, current: string, body: Html, status: ContentfulStatusCode = 200): Response | Promise<Response> {
  return c.html(portalLayout({ title, viewer: c.get('viewer'), csrf: c.get('csrf'), current, body }), status, PAGE_HEADERS);
}

/** The portal's error handler: a person's mistakes as a page with the right status, never JSON. */
export function portalErrorPage(c: Context<PortalEnv>, err: unknown, log: (msg: string, err: unknown) => void): Response | Promise<Response> {
  let status: ContentfulStatusCode = 500;
  let title = 'Something went wrong';
  let message = 'Something went wrong on our side; the operators can find details in the service log.';
  if (isAirlockError(err)) {
    status = httpStatus(err.code) as ContentfulStatusCode;
    title = err.code === 'forbidden' ? 'Not allowed' : err.code === 'throttled' ? 'Too many attempts' : err.code === 'not_found' ? 'Not found' : 'Cannot continue';
    message = err.message;
  } else {
    log('unhandled error in a portal page', err);
  }
  // Inside the layout when the viewer is known, else the public frame.
  const viewer = c.get('viewer') as Viewer | undefined;
  if (viewer === undefined) return c.html(messagePage(title, message), status, PAGE_HEADERS);
  return renderPortal(c, title, '', html`<h1>${title}</h1><p class="error" role="alert" id="result">${message}</p>`, status);
}
