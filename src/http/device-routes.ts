/**
 * The device-style browser login for `airlock login --browser` (after RFC 8628, against Airlock itself):
 * the CLI asks for a login request for a user name, prints the approval link and code, and polls with
 * a separate secret that never appears in the browser. Once the user approves in the browser, one poll
 * (and only one) receives a session token, with which the CLI gets its certificate as after a password
 * sign-in.
 */
import { Hono } from 'hono';
import { AirlockError } from '../errors.ts';
import type { BrowserLogins } from '../identity/browser-login.ts';
import { checkUserName } from '../identity/enrolment.ts';
import type { SessionTokens } from '../identity/session-tokens.ts';
import type { Auditor } from '../audit/auditor.ts';
import { clientAddress, jsonBody } from './request.ts';

/** Session tokens from a browser login carry this scope, so certificates record how the user signed in. */
export const BROWSER_SESSION_SCOPE = 'login:browser';

export interface DeviceRoutesDeps {
  logins: BrowserLogins;
  tokens: SessionTokens;
  audit: Auditor;
  sessionTtlMs: number;
}

/** The device-login API routes. */
export function deviceRoutes(deps: DeviceRoutesDeps): Hono {
  const app = new Hono();

  app.post('/api/v1/device/authorize', async (c) => {
    const body = await jsonBody(c);
    const user = body.user;
    if (typeof user !== 'string') throw new AirlockError('bad_request', 'The field "user" is required and must be a string.');
    checkUserName(user);
    const started = await deps.logins.start({ kind: 'device', userName: user, clientAddress: clientAddress(c), connectionRef: 'device' });
    return c.json({
      device_code: started.pollSecret,
      user_code: started.userCode,
      verification_uri_complete: started.url,
      expires_in: Math.floor(deps.logins.ttlMs / 1000),
      expires_at: new Date(started.expiresAt).toISOString(),
      interval: Math.max(1, Math.round(deps.logins.pollMs / 1000)),
    });
  });

  app.post('/api/v1/device/token', async (c) => {
    const body = await jsonBody(c);
    const code = body.device_code;
    if (typeof code !== 'string' || code.length > 100) throw new AirlockError('bad_request', 'The field "device_code" is required and must be a string.');
    const result = await deps.logins.pollDevice(code);
    if (result.status !== 'approved') return c.json({ status: result.status });
    const { token, record } = await deps.tokens.issue(result.user, { kind: 'session', ttlMs: deps.sessionTtlMs, scopes: [BROWSER_SESSION_SCOPE] });
    await deps.audit.record({
      type: 'auth.device_login', outcome: 'success', actor: result.user.name, clientAddress: clientAddress(c),
      details: { request: result.requestId, method: result.method },
    });
    return c.json({ status: 'approved', token, token_expires_at: new Date(record.expiresAt).toISOString(), user: { name: result.user.name, admin: result.user.isAdmin } });
  });

  return app;
}
