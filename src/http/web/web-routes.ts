/**
 * The web pages of the browser login: sign-in with password + one-time code or with the identity
 * provider (OIDC), sign-out, and the approval page of an SSH or device login. Pages are HTML; errors
 * a person can cause are shown as pages with the right status, never as JSON. Every POST is a form
 * checked for CSRF; the approval itself is decided by BrowserLogins (bound to request, code and user).
 */
import { Hono, type Context } from 'hono';
import { bodyLimit } from '../body-limit.ts';
import { getCookie, setCookie } from 'hono/cookie';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Clock } from '../../clock.ts';
import { AirlockError, httpStatus, isAirlockError } from '../../errors.ts';
import type { BrowserLogins } from '../../identity/browser-login.ts';
import type { OidcLogin } from '../../identity/oidc-login.ts';
import type { WebSessions } from '../../identity/web-sessions.ts';
import type { User } from '../../store/repositories.ts';
import { clientAddress } from '../request.ts';
import { PAGE_HEADERS } from './assets.ts';
import { readForm } from './form.ts';
import { approvalPage, decidedPage, messagePage, signInPage, wrongUserPage } from './pages.ts';
import {
  CSRF_COOKIE, OIDC_STATE_COOKIE, SESSION_COOKIE, checkCsrf, clearCookie, cookieOptions, csrfToken, rotateCsrf, safeNext,
} from './web-security.ts';

/** What the pages need of the password + second-factor sign-in. */
export interface WebPasswordLogin {
  signIn(input: { name: string; password: string; otp: string; clientAddress: string | null }): Promise<{ user: User; method: string }>;
}

export interface WebRoutesDeps {
  logins: BrowserLogins;
  sessions: WebSessions;
  password: WebPasswordLogin;
  oidc: OidcLogin | null;
  clock: Clock;
  /** The public base URL (no trailing slash). */
  baseUrl: () => string;
  log: (msg: string, err: unknown) => void;
}

const MAX_FORM_FIELD = 2048;
const formBody = (c: Context): Promise<Record<string, string>> => readForm(c, MAX_FORM_FIELD);

const SECRET = /^[A-Za-z0-9_-]{43}$/;

/** The web routes, mounted at the root of the app. */
export function webRoutes(deps: WebRoutesDeps): Hono {
  const app = new Hono();
  const base = () => deps.baseUrl();

  const page = (c: Context, body: ReturnType<typeof messagePage>, status: ContentfulStatusCode = 200) => c.html(body, status, PAGE_HEADERS);
  const errorPage = (c: Context, err: unknown) => {
    if (isAirlockError(err)) {
      const title = err.code === 'throttled' ? 'Too many attempts' : err.code === 'forbidden' ? 'Not allowed' : err.code === 'unavailable' ? 'Unavailable' : 'Cannot continue';
      return page(c, messagePage(title, err.message), httpStatus(err.code) as ContentfulStatusCode);
    }
    deps.log('unhandled error in a web page', err);
    return page(c, messagePage('Something went wrong', 'Something went wrong on our side; the operators can find details in the service log.'), 500);
  };
  app.onError((err, c) => errorPage(c, err));
  app.use('/login/*', bodyLimit({ maxSize: 16 * 1024, onError: () => { throw new AirlockError('bad_request', 'The form is too large.'); } }));
  app.use('/logout', bodyLimit({ maxSize: 16 * 1024, onError: () => { throw new AirlockError('bad_request', 'The form is too large.'); } }));

  const signedIn = async (c: Context): Promise<{ user: User; method: string } | undefined> => {
    const found = await deps.sessions.authenticate(getCookie(c, SESSION_COOKIE));
    return found === undefined ? undefined : { user: found.user, method: found.session.method };
  };

  const startSession = async (c: Context, user: User, method: string): Promise<void> => {
    // A new session and a new CSRF token at every sign-in (no fixation of either).
    await deps.sessions.end(getCookie(c, SESSION_COOKIE));
    const { secret } = await deps.sessions.create(user, method);
    setCookie(c, SESSION_COOKIE, secret, cookieOptions(base(), 'Lax', Math.floor(deps.sessions.ttlMs / 1000)));
    rotateCsrf(c, base());
  };

  const renderSignIn = async (c: Context, next: string, error: string | null, userName: string | null, status: ContentfulStatusCode = 200) => {
    const secret = next.startsWith('/login/b/') ? next.slice('/login/b/'.length) : null;
    const request = secret === null ? undefined : await deps.logins.view(secret);
    const pending = request?.status === 'pending' ? request : null;
    return page(c, signInPage({
      csrf: csrfToken(c, base()), next, userName: userName ?? pending?.userName ?? null, request: pending,
      oidcName: deps.oidc?.displayName ?? null, error,
    }), status);
  };

  app.get('/login', async (c) => renderSignIn(c, safeNext(c.req.query('next')), null, null));

  app.post('/login/password', async (c) => {
    const form = await formBody(c);
    checkCsrf(c, form, base());
    const next = safeNext(form.next);
    try {
      const { user, method } = await deps.password.signIn({
        name: (form.user ?? '').trim().slice(0, 64), password: form.password ?? '', otp: (form.otp ?? '').trim(), clientAddress: clientAddress(c),
      });
      await startSession(c, user, method);
      return c.redirect(next, 303);
    } catch (err) {
      if (isAirlockError(err, 'unauthenticated') || isAirlockError(err, 'throttled')) {
        return renderSignIn(c, next, err.message, (form.user ?? '').slice(0, 64), httpStatus(err.code) as ContentfulStatusCode);
      }
      throw err;
    }
  });

  app.get('/login/oidc', async (c) => {
    if (deps.oidc === null) return page(c, messagePage('Not available', 'Sign-in with an identity provider is not configured here.'), 404);
    const { authorizationUrl, state } = await deps.oidc.begin(safeNext(c.req.query('next')));
    // Lax: the provider sends the browser back with a top-level cross-site navigation.
    setCookie(c, OIDC_STATE_COOKIE, state, cookieOptions(base(), 'Lax', 600));
    return c.redirect(authorizationUrl, 302);
  });

  app.get('/login/oidc/callback', async (c) => {
    if (deps.oidc === null) return page(c, messagePage('Not available', 'Sign-in with an identity provider is not configured here.'), 404);
    const cookieState = getCookie(c, OIDC_STATE_COOKIE);
    clearCookie(c, OIDC_STATE_COOKIE, base());
    const { user, returnTo } = await deps.oidc.finish({ query: new URL(c.req.url).searchParams, cookieState, clientAddress: clientAddress(c) });
    await startSession(c, user, 'oidc');
    return c.redirect(safeNext(returnTo), 303);
  });

  app.post('/logout', async (c) => {
    const form = await formBody(c);
    checkCsrf(c, form, base());
    await deps.sessions.end(getCookie(c, SESSION_COOKIE));
    clearCookie(c, SESSION_COOKIE, base());
    rotateCsrf(c, base());
    const next = safeNext(form.next);
    return c.redirect(next === '/' ? '/login' : `/login?next=${encodeURIComponent(next)}`, 303);
  });

  app.get('/login/b/:secret', async (c) => {
    const secret = c.req.param('secret');
    const request = SECRET.test(secret) ? await deps.logins.view(secret) : undefined;
    if (request === undefined) return page(c, messagePage('Link not valid', 'This login link is not valid. Start the login again to get a new one.'), 404);
    if (request.status === 'expired') return page(c, messagePage('Link expired', 'This login link has expired. Start the login again to get a new one.'), 410);
    if (request.status === 'approved' || request.status === 'consumed') return page(c, messagePage('Link already used', 'This login link has already been used.'), 409);
    if (request.status === 'denied') return page(c, messagePage('Login denied', 'This login was denied; start the login again if that was a mistake.'), 409);
    const who = await signedIn(c);
    const here = `/login/b/${secret}`;
    if (who === undefined) return c.redirect(`/login?next=${encodeURIComponent(here)}`, 303);
    const csrf = csrfToken(c, base());
    if (who.user.name !== request.userName) return page(c, wrongUserPage({ csrf, request, signedInAs: who.user.name, next: here }), 403);
    return page(c, approvalPage({ csrf, secret, request, signedInAs: who.user.name, now: deps.clock.now() }));
  });

  const decide = (decision: 'approved' | 'denied') => async (c: Context) => {
    const form = await formBody(c);
    checkCsrf(c, form, base());
    const secret = c.req.param('secret') ?? '';
    const who = await signedIn(c);
    if (who === undefined) return c.redirect(`/login?next=${encodeURIComponent(safeNext(`/login/b/${secret}`))}`, 303);
    const request = await deps.logins.decide({
      secret, userCode: form.code ?? '', approver: who.user, method: who.method, clientAddress: clientAddress(c), decision,
    });
    return page(c, decidedPage({ request, decision, userName: who.user.name }));
  };
  app.post('/login/b/:secret/approve', decide('approved'));
  app.post('/login/b/:secret/deny', decide('denied'));

  return app;
}

/** Cookie names, for tests. */
export const WEB_COOKIES = { session: SESSION_COOKIE, csrf: CSRF_COOKIE, oidcState: OIDC_STATE_COOKIE } as const;
