/**
 * Cookies and CSRF protection for the web pages. Cookies are HttpOnly, SameSite, and Secure whenever
 * the browser will keep a Secure cookie (https, or a loopback address, which browsers treat as a
 * secure context). Every form POST carries a token that must equal the browser's CSRF cookie (double
 * submit), and a cross-site Origin or Sec-Fetch-Site refuses it outright (OWASP CSRF cheat sheet).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { getCookie, setCookie, deleteCookie } from 'hono/cookie';
import { AirlockError } from '../../errors.ts';

export const SESSION_COOKIE = 'airlock_session';
/**
 * The CSRF cookie. The `__Host-` prefix (RFC 6265bis §4.1.3.2) makes browsers accept it only if it is
 * Secure, has Path=/ and no Domain, and was set by this very host: so a sibling subdomain or a
 * man-in-the-middle on plain http cannot plant a token of their choosing ("cookie tossing"), which
 * would defeat the double-submit check. Browsers keep Secure cookies for http://localhost and
 * 127.0.0.0/8 too (secure contexts), so local development keeps the prefix; only a plain-http,
 * non-loopback base URL (which secureCookies() rejects) falls back to the bare name, since a browser
 * would drop a prefixed cookie there and sign-in would be impossible.
 */
export const CSRF_COOKIE = '__Host-airlock_csrf';
/** The CSRF cookie's name where Secure cookies are impossible (plain http, not loopback). */
export const CSRF_COOKIE_PLAIN_HTTP = 'airlock_csrf';

/** The CSRF cookie's name for a base URL. */
export function csrfCookieName(baseUrl: string): string {
  return secureCookies(baseUrl) ? CSRF_COOKIE : CSRF_COOKIE_PLAIN_HTTP;
}
export const OIDC_STATE_COOKIE = 'airlock_oidc_state';

/** Whether cookies for this base URL can carry the Secure attribute. */
export function secureCookies(baseUrl: string): boolean {
  const u = new URL(baseUrl);
  if (u.protocol === 'https:') return true;
  const h = u.hostname.replace(/^\[(.*)\]$/, '$1');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** Cookie attributes for a base URL. `lax` for cookies that must survive the return from the identity provider. */
export function cookieOptions(baseUrl: string, sameSite: 'Strict' | 'Lax', maxAgeSeconds?: number) {
  return { path: '/', httpOnly: true, secure: secureCookies(baseUrl), sameSite, ...(maxAgeSeconds === undefined ? {} : { maxAge: maxAgeSeconds }) };
}

/** The browser's CSRF token, set if it has none yet; embed it in every form. */
export function csrfToken(c: Context, baseUrl: string): string {
  const existing = getCookie(c, csrfCookieName(baseUrl));
  if (existing !== undefined && /^[A-Za-z0-9_-]{43}$/.test(existing)) return existing;
  return rotateCsrf(c, baseUrl);
}

/** Sets a fresh CSRF token (after sign-in and sign-out, so a token planted before cannot be used after). */
export function rotateCsrf(c: Context, baseUrl: string): string {
  const token = randomBytes(32).toString('base64url');
  // A __Host- cookie must be Secure with Path=/ and no Domain: cookieOptions gives exactly that here.
  setCookie(c, csrfCookieName(baseUrl), token, cookieOptions(baseUrl, 'Strict'));
  return token;
}

/** Refuses a form POST unless it is same-origin and carries the browser's CSRF token. */
export function checkCsrf(c: Context, form: Record<string, unknown>, baseUrl: string): void {
  const refuse = () => new AirlockError('forbidden', 'This form has expired or did not come from this site. Reload the page and try again.', { details: { reason: 'csrf' } });
  const site = c.req.header('sec-fetch-site');
  if (site !== undefined && site !== 'same-origin' && site !== 'none') throw refuse();
  const origin = c.req.header('origin');
  if (origin !== undefined && origin !== 'null') {
    const allowed = new Set([new URL(baseUrl).origin, new URL(c.req.url).origin]);
    if (!allowed.has(origin)) throw refuse();
  }
  // Only the cookie of this base URL's kind: on https a bare-named cookie may have been tossed in.
  const cookie = getCookie(c, csrfCookieName(baseUrl));
  const sent = form.csrf;
  if (cookie === undefined || typeof sent !== 'string') throw refuse();
  const a = Buffer.from(cookie);
  const b = Buffer.from(sent);
  if (a.length !== b.length || !timingSafeEqual(a, b)) throw refuse();
}

/** Removes a cookie with the attributes it was set with. */
export function clearCookie(c: Context, name: string, baseUrl: string): void {
  deleteCookie(c, name, { path: '/', secure: secureCookies(baseUrl) });
}

/**
 * A local path to continue at after sign-in: approval links and portal pages (a slash and lower-case
 * path segments, no query), so that `next` can never send a browser to another site (open redirect:
 * no `//host`, no backslash, no scheme can pass).
 */
export function safeNext(next: unknown): string {
  if (typeof next !== 'string') return '/';
  if (/^\/login\/b\/[A-Za-z0-9_-]{43}$/.test(next)) return next;
  return /^\/(?:[a-z][a-z0-9-]{0,40}(?:\/[a-z0-9-]{1,64}){0,4})?$/.test(next) ? next : '/';
}
