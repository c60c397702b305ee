/**
 * The HTTP API (Hono): routes translate HTTP to calls on the CA, the sign-in flow and the token
 * service, and back. No policy lives here; errors are mapped in one place (api-errors.ts).
 */
import { Hono, type Context } from 'hono';
import { RegExpRouter } from 'hono/router/reg-exp-router';
import { SmartRouter } from 'hono/router/smart-router';
import { TrieRouter } from 'hono/router/trie-router';
import { bodyLimit } from './body-limit.ts';
import { CachedRouter } from './cached-router.ts';
import { securityHeaders } from './listener.ts';
import type { Clock } from '../clock.ts';
import { AirlockError } from '../errors.ts';
import type { CertificateAuthority } from '../ca/authority.ts';
import type { SessionTokens } from '../identity/session-tokens.ts';
import type { Store, User } from '../store/repositories.ts';
import { formatPublicKey, parsePublicKey } from '../ssh/keys.ts';
import { errorResponse } from './api-errors.ts';
import { clientAddress, jsonBody, requiredString, resolveClientAddressMiddleware } from './request.ts';
import { trustedProxies, type ForwardedHeaderName } from './forwarded.ts';
import { certificateJson } from '../ca/ledger-view.ts';
import { parseSerialText } from '../ca/serial-text.ts';
import type { Inventory } from '../inventory/inventory.ts';
import type { KeyRegistry } from '../inventory/key-registry.ts';
import { inventoryRoutes } from './inventory-routes.ts';
import { jobRoutes } from './job-routes.ts';
import type { JobsService } from '../jobs/jobs-service.ts';
import { gatewayRoutes } from './gateway-routes.ts';
import type { GatewayTrust } from '../gateway/host-key.ts';
import type { Auditor } from '../audit/auditor.ts';
import type { BrowserLoginServices } from '../identity/browser-login-services.ts';
import { BROWSER_SESSION_SCOPE, deviceRoutes } from './device-routes.ts';
import { webRoutes, type WebPasswordLogin } from './web/web-routes.ts';
import { assetRoutes } from './web/assets.ts';
import { operatorRoutes, type OperatorServices } from './web/operator-routes.ts';
import { researcherRoutes } from './web/researcher-routes.ts';
import { httpMetrics, opsRoutes, type OpsDeps } from './ops-routes.ts';

/** What the password + TOTP sign-in needs to expose to HTTP. */
export interface PasswordLogin {
  authenticate(input: { name: string; password: string; otp: string; clientAddress: string | null }): Promise<User>;
}

export interface HttpDeps {
  ca: CertificateAuthority;
  login: PasswordLogin;
  tokens: SessionTokens;
  store: Store;
  clock: Clock;
  sessionTtlMs: number;
  certTtlMs: number;
  certDailyLimit: number;
  /** The name authenticator apps show for Airlock (AIRLOCK_ISSUER), for TOTP re-enrolment in the portal. */
  issuer?: string;
  inventory: Inventory;
  keyRegistry: KeyRegistry;
  /** The SSH gateway's trust material, or null when it does not run in this process. */
  gatewayTrust?: () => GatewayTrust | null;
  /** The browser login (web pages, OIDC, device flow); absent = API only. */
  browserLogin?: BrowserLoginServices & { password: WebPasswordLogin; audit: Auditor };
  log?: (msg: string, err: unknown) => void;
  /** The operator pages' services (users, API tokens, live connections); absent = no /admin pages. */
  operator?: OperatorServices;
  /** `/healthz`, `/readyz` and `/metrics` (ops-routes.ts). */
  ops?: OpsDeps;
  /** Per-job endpoints (jobs/jobs-service.ts) and the host researchers connect to; absent = no job routes. */
  jobs?: { service: JobsService; gatewayHost: () => string | null };
  /** CIDRs of the reverse proxies whose forwarded header is believed (AIRLOCK_TRUSTED_PROXIES); none by default. */
  trustedProxies?: readonly string[];
  /** The header those proxies set (AIRLOCK_TRUSTED_PROXY_HEADER). */
  trustedProxyHeader?: ForwardedHeaderName;
}

type Env = { Variables: { user: User; tokenId: string; loginMethod: string } };

const MAX_BODY = 64 * 1024;

/** Builds the Hono application. */
export function createHttpApp(deps: HttpDeps): Hono<Env> {
  const log = deps.log ?? ((msg, err) => console.error(msg, err));
  // Hono's default router, remembering its answers (cached-router.ts).
  const app = new Hono<Env>({ router: new CachedRouter(new SmartRouter({ routers: [new RegExpRouter(), new TrieRouter()] })) });
  // First of all: every later handler (throttle, audit, ledger, rate limits) reads this one address.
  app.use('*', resolveClientAddressMiddleware(trustedProxies(deps.trustedProxies ?? [], deps.trustedProxyHeader)));
  if (deps.ops?.metrics) app.use('*', httpMetrics(deps.ops.metrics));
  app.use('*', securityHeaders());
  app.use('/api/*', bodyLimit({ maxSize: MAX_BODY, onError: () => { throw new AirlockError('bad_request', `The request body is larger than ${MAX_BODY} bytes.`); } }));
  app.onError((err, c) => errorResponse(err, c, log));
  app.notFound((c) => c.json({ error: { code: 'not_found', message: `No such endpoint: ${c.req.method} ${c.req.path}` } }, 404));

  const requireUser = async (c: Context<Env>, next: () => Promise<void>): Promise<void> => {
    const header = c.req.header('authorization');
    const token = header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    const { user, token: rec } = await deps.tokens.authenticate(token);
    // These routes act as a person (certificates, sign-out). An orchestrator's API token belongs to a
    // service account and must not, e.g., get itself an SSH certificate; it has its own routes.
    if (rec.kind !== 'session') throw new AirlockError('forbidden', 'API tokens cannot be used here; this needs a signed-in user (airlock login).');
    c.set('user', user);
    c.set('tokenId', rec.id);
    // Certificates record how their holder signed in (the ledger's issuing method).
    c.set('loginMethod', rec.scopes.includes(BROWSER_SESSION_SCOPE) ? 'browser' : 'password+totp');
    await deps.tokens.noteUse(rec);
    await next();
  };

  opsRoutes(app, deps.ops ?? {});

  app.get('/api/v1/ca', (c) =>
    c.json({
      user_ca: formatPublicKey(deps.ca.userCaKey, 'airlock-user-ca'),
      host_ca: formatPublicKey(deps.ca.hostCaKey, 'airlock-host-ca'),
      cert_authority_line: deps.ca.certAuthorityLine(),
      cert_ttl_seconds: Math.floor(deps.certTtlMs / 1000),
      cert_daily_limit: deps.certDailyLimit,
    }),
  );

  app.get('/api/v1/krl', async (c) => {
    const krl = await deps.ca.krl();
    return c.body(new Uint8Array(krl), 200, {
      'Content-Type': 'application/octet-stream',
      'Cache-Control': 'no-cache',
      'X-Airlock-KRL-Version': String(await deps.ca.krlVersion()),
    });
  });

  app.post('/api/v1/login', async (c) => {
    const body = await jsonBody(c);
    const user = await deps.login.authenticate({
      name: requiredString(body, 'user', 64),
      password: requiredString(body, 'password', 1024),
      otp: requiredString(body, 'otp', 64),
      clientAddress: clientAddress(c),
    });
    const { token, record } = await deps.tokens.issue(user, { kind: 'session', ttlMs: deps.sessionTtlMs });
    return c.json({ token, token_expires_at: new Date(record.expiresAt).toISOString(), user: { name: user.name, admin: user.isAdmin } });
  });

  app.post('/api/v1/logout', requireUser, async (c) => {
    await deps.tokens.revoke(c.get('tokenId'));
    return c.body(null, 204);
  });

  app.get('/api/v1/me', requireUser, (c) => {
    const user = c.get('user');
    return c.json({ name: user.name, email: user.email, admin: user.isAdmin, principals: deps.ca.principalsOf(user) });
  });

  app.post('/api/v1/certificates', requireUser, async (c) => {
    const body = await jsonBody(c);
    const publicKey = parsePublicKey(requiredString(body, 'public_key', 16_384));
    const issued = await deps.ca.issueUserCertificate({ user: c.get('user'), publicKey, method: c.get('loginMethod'), clientAddress: clientAddress(c) });
    return c.json({ ...certificateJson(issued.record, deps.clock.now()), certificate: issued.line }, 201);
  });

  app.get('/api/v1/certificates', requireUser, async (c) => {
    const now = deps.clock.now();
    const list = await deps.store.certificates.listByUser(c.get('user').id);
    return c.json({ certificates: list.map((r) => certificateJson(r, now)) });
  });

  app.delete('/api/v1/certificates/:serial', requireUser, async (c) => {
    const user = c.get('user');
    const rec = await deps.ca.revoke(parseSerialText(c.req.param('serial') ?? ''), { actor: user.name, owner: user, reason: 'revoked by owner', clientAddress: clientAddress(c) });
    return c.json({ revoked: [rec.serial.toString()] });
  });

  app.post('/api/v1/certificates/revoke-all', requireUser, async (c) => {
    const user = c.get('user');
    const serials = await deps.ca.revokeAllOfUser(user, { actor: user.name, reason: 'revoked by owner', clientAddress: clientAddress(c) });
    return c.json({ revoked: serials.map(String) });
  });

  app.route('/', inventoryRoutes({ inventory: deps.inventory, keyRegistry: deps.keyRegistry, tokens: deps.tokens, store: deps.store, clock: deps.clock }));
  app.route('/', gatewayRoutes(deps.gatewayTrust ?? (() => null)));
  if (deps.jobs) app.route('/', jobRoutes({ jobs: deps.jobs.service, gatewayHost: deps.jobs.gatewayHost, tokens: deps.tokens, store: deps.store, clock: deps.clock }));
  if (deps.browserLogin) {
    const b = deps.browserLogin;
    app.route('/', deviceRoutes({ logins: b.logins, tokens: deps.tokens, audit: b.audit, sessionTtlMs: deps.sessionTtlMs }));
    app.route('/', assetRoutes());
    app.route('/', researcherRoutes({
      ca: deps.ca, store: deps.store, inventory: deps.inventory, keyRegistry: deps.keyRegistry, sessions: b.sessions, audit: b.audit, clock: deps.clock,
      certTtlMs: deps.certTtlMs, certDailyLimit: deps.certDailyLimit, issuer: deps.issuer ?? 'Airlock', gatewayTrust: deps.gatewayTrust ?? (() => null), baseUrl: b.baseUrl, log,
      jobs: deps.jobs,
    }));
    app.route('/', webRoutes({ logins: b.logins, sessions: b.sessions, password: b.password, oidc: b.oidc, clock: deps.clock, baseUrl: b.baseUrl, log }));
    if (deps.operator) {
      app.route('/', operatorRoutes({ ...deps.operator, sessions: b.sessions, inventory: deps.inventory, ca: deps.ca, store: deps.store, clock: deps.clock, baseUrl: b.baseUrl, log }));
    }
  }

  return app;
}
