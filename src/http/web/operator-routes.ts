/**
 * The operator pages under /admin (issue 12 items 8–12): users, projects and members, targets, API
 * tokens, certificates and the KRL, audit, live gateway connections. Every action goes through the
 * same service as the CLI and the API (UserAdmin, Inventory, ApiTokens, the CA, LiveConnections), is
 * audited there with the operator's name and address, and is checked here on the server for every
 * request: a signed-in session (portalSession), the role (admin; a PI only for their own projects'
 * members and targets) BEFORE anything is read or changed, then the CSRF token of the form. A
 * researcher gets the 403 page for a direct URL and for a forged POST alike. After an action the
 * browser is redirected (303) to the page with a fixed notice, so a reload repeats nothing.
 */
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { bodyLimit } from '../body-limit.ts';
import { AirlockError } from '../../errors.ts';
import type { Clock } from '../../clock.ts';
import type { Store } from '../../store/repositories.ts';
import type { CertificateAuthority } from '../../ca/authority.ts';
import { krlStatus, searchLedger } from '../../ca/ledger-search.ts';
import { parseSerialText } from '../../ca/serial-text.ts';
import type { UserAdmin } from '../../identity/user-admin.ts';
import { userView } from '../../identity/user-admin.ts';
import type { Inventory, ProjectWithMembers } from '../../inventory/inventory.ts';
import type { ApiTokens } from '../../inventory/api-tokens.ts';
import { DEFAULT_API_TOKEN_TTL_MS, isServiceAccount, parseScopes } from '../../inventory/api-scopes.ts';
import { parseServiceSpec } from '../../inventory/service-spec.ts';
import type { Project } from '../../inventory/ports.ts';
import { parsePort } from '../../inventory/target-validation.ts';
import type { LiveConnections } from '../../ops/live-connections.ts';
import { auditExport, auditPage, type AuditQuery } from '../../audit/audit-query.ts';
import { parseDuration } from '../../duration.ts';
import type { WebSessions } from '../../identity/web-sessions.ts';
import { actorOf, portalErrorPage, portalForm, portalSession, renderPortal, requireAdmin, type PortalEnv } from './portal-auth.ts';
import { PAGE_HEADERS } from './assets.ts';
import { auditBody, certificatesBody, confirmBody, connectionsBody, enrolmentBody, userBody, usersBody } from './operator-pages.ts';
import { projectsBody, targetsBody, tokenCreatedBody, tokensBody } from './operator-inventory-pages.ts';

/** The services the operator pages act through (the same objects the CLI and API use). */
export interface OperatorServices {
  userAdmin: UserAdmin;
  apiTokens: ApiTokens;
  liveConnections: LiveConnections;
}

export interface OperatorRoutesDeps extends OperatorServices {
  sessions: WebSessions;
  inventory: Inventory;
  ca: CertificateAuthority;
  store: Store;
  clock: Clock;
  baseUrl: () => string;
  log: (msg: string, err: unknown) => void;
}

/** Fixed notices after an action, by code (the URL never carries text that is shown). */
const NOTICES: Record<string, string> = {
  disabled: 'The user is disabled: sign-in refused, tokens and certificates revoked, live connections ended.',
  enabled: 'The user is enabled again. Their old certificates stay revoked.',
  'admin-granted': 'The user is now an operator (admin role).',
  'admin-removed': 'The admin role was removed.',
  revoked: 'The certificate is revoked; the KRL has a new version.',
  'revoked-all': 'Every valid certificate of the user is revoked; the KRL has a new version.',
  ended: 'The connection is being ended by the gateway that holds it (within a second).',
  'project-added': 'The project was created.',
  'member-saved': 'The membership was saved.',
  'member-removed': 'The member was removed; their open connections to the project\'s targets end.',
  'target-added': 'The target was registered.',
  'target-removed': 'The target was removed; open connections to it end.',
  'tokens-revoked': 'Every token of the service account is revoked.',
};

const notice = (c: Context<PortalEnv>): string | null => NOTICES[c.req.query('done') ?? ''] ?? null;
const done = (c: Context<PortalEnv>, path: string, code: string) => c.redirect(`${path}${path.includes('?') ? '&' : '?'}done=${code}`, 303);
const list = (v: string | undefined): string[] => (v ?? '').split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);

/** The /admin routes. */
export function operatorRoutes(deps: OperatorRoutesDeps): Hono<PortalEnv> {
  const app = new Hono<PortalEnv>();
  const base = () => deps.baseUrl();
  app.onError((err, c) => portalErrorPage(c, err, deps.log));
  app.use('/admin/*', bodyLimit({ maxSize: 64 * 1024, onError: () => { throw new AirlockError('bad_request', 'The form is too large.'); } }));
  app.use('/admin/*', portalSession({ sessions: deps.sessions, inventory: deps.inventory, baseUrl: deps.baseUrl }));
  app.use('/admin', portalSession({ sessions: deps.sessions, inventory: deps.inventory, baseUrl: deps.baseUrl }));

  /** Admins, and PIs (for their own projects; each handler narrows to those). */
  const requireAdminOrPi: MiddlewareHandler<PortalEnv> = async (c, next) => {
    const v = c.get('viewer');
    if (!v.isAdmin && !v.isPi) throw new AirlockError('forbidden', 'This page is for Airlock administrators and project PIs only.');
    await next();
  };
  for (const path of ['/admin', '/admin/users', '/admin/users/*', '/admin/tokens', '/admin/tokens/*', '/admin/certificates', '/admin/certificates/*', '/admin/audit', '/admin/audit/*', '/admin/connections', '/admin/connections/*']) {
    app.use(path, requireAdmin);
  }
  for (const path of ['/admin/projects', '/admin/projects/*', '/admin/targets', '/admin/targets/*']) app.use(path, requireAdminOrPi);

  /** The projects the viewer may manage: all for an admin, those they are PI of otherwise. */
  const manageable = async (c: Context<PortalEnv>): Promise<Project[]> => {
    if (c.get('viewer').isAdmin) return (await deps.inventory.listProjects()).map(({ members: _members, ...p }) => p);
    return (await deps.inventory.projectsOfUser(c.get('user').id)).filter((p) => p.role === 'pi').map(({ role: _role, ...p }) => p);
  };
  /** The project if the viewer may manage it; otherwise the same 403 whether or not it exists. */
  const manageableProject = async (c: Context<PortalEnv>, name: string): Promise<Project> => {
    const found = (await manageable(c)).find((p) => p.name === name);
    if (found !== undefined) return found;
    if (c.get('viewer').isAdmin) return deps.inventory.project(name);
    throw new AirlockError('forbidden', `You do not lead the project ${name.slice(0, 64)}; only its PIs and administrators manage it.`);
  };

  app.get('/admin', (c) => c.redirect('/admin/users', 303));

  // ---- users (item 8) ----

  app.get('/admin/users', async (c) => {
    const q = (c.req.query('q') ?? '').slice(0, 128);
    const users = await deps.userAdmin.list(q);
    return renderPortal(c, 'Users', '/admin/users', usersBody({ csrf: c.get('csrf'), q, users, notice: notice(c) }));
  });

  app.post('/admin/users', async (c) => {
    const form = await portalForm(c, base());
    const name = (form.name ?? '').trim();
    const enrolment = await deps.userAdmin.add({
      name, email: (form.email ?? '').trim() || null, admin: form.admin === 'yes', password: form.password ?? '', sourceCidrs: list(form.source_cidrs),
    }, actorOf(c));
    return renderPortal(c, `User ${name} created`, '/admin/users', await enrolmentBody({ title: `User ${name} created`, name, totpUri: enrolment.totpUri, recoveryCodes: enrolment.recoveryCodes }));
  });

  app.get('/admin/users/:name', async (c) => {
    const user = await deps.userAdmin.byName(c.req.param('name'));
    const [certs, conns] = await Promise.all([deps.store.certificates.listByUser(user.id), deps.liveConnections.list({ user: user.name })]);
    return renderPortal(c, `User ${user.name}`, '/admin/users', userBody({
      csrf: c.get('csrf'), user: userView(user), self: user.id === c.get('user').id, certificates: certs.length, connections: conns.length, notice: notice(c),
    }));
  });

  const userPath = (name: string) => `/admin/users/${encodeURIComponent(name)}`;

  app.post('/admin/users/:name/disable', async (c) => {
    const form = await portalForm(c, base());
    const user = await deps.userAdmin.byName(c.req.param('name'));
    if (form.confirm !== 'yes') {
      return renderPortal(c, `Disable ${user.name}?`, '/admin/users', confirmBody({
        csrf: c.get('csrf'), title: `Disable ${user.name}?`, action: `${userPath(user.name)}/disable`, button: `Disable ${user.name}`, back: userPath(user.name),
        text: `${user.name} will not be able to sign in; their CLI and API tokens and every certificate are revoked, and their live gateway connections end within a second.`,
      }));
    }
    await deps.userAdmin.disable(user.name, actorOf(c));
    return done(c, userPath(user.name), 'disabled');
  });

  app.post('/admin/users/:name/enable', async (c) => {
    await portalForm(c, base());
    const user = await deps.userAdmin.byName(c.req.param('name'));
    await deps.userAdmin.enable(user.name, actorOf(c));
    return done(c, userPath(user.name), 'enabled');
  });

  app.post('/admin/users/:name/reset-totp', async (c) => {
    const form = await portalForm(c, base());
    const user = await deps.userAdmin.byName(c.req.param('name'));
    if (form.confirm !== 'yes') {
      return renderPortal(c, `Reset ${user.name}'s one-time codes?`, '/admin/users', confirmBody({
        csrf: c.get('csrf'), title: `Reset ${user.name}'s one-time codes?`, action: `${userPath(user.name)}/reset-totp`, button: 'Reset one-time codes', back: userPath(user.name),
        text: `${user.name}'s authenticator entry and recovery codes stop working at once; you will get a new QR code and new recovery codes to hand over.`,
      }));
    }
    const reset = await deps.userAdmin.resetTotp(user.name, actorOf(c));
    return renderPortal(c, `New one-time codes for ${user.name}`, '/admin/users', await enrolmentBody({ title: `New one-time codes for ${user.name}`, name: user.name, ...reset }));
  });

  app.post('/admin/users/:name/admin', async (c) => {
    const form = await portalForm(c, base());
    const user = await deps.userAdmin.byName(c.req.param('name'));
    const grant = form.admin === 'grant';
    if (!grant && form.admin !== 'remove') throw new AirlockError('bad_request', 'Choose to grant or to remove the admin role.');
    await deps.userAdmin.setAdmin(user.name, grant, actorOf(c));
    return done(c, userPath(user.name), grant ? 'admin-granted' : 'admin-removed');
  });

  // ---- projects, members, roles (item 9) ----

  app.get('/admin/projects', async (c) => {
    const visible = new Set((await manageable(c)).map((p) => p.id));
    const projects: ProjectWithMembers[] = (await deps.inventory.listProjects()).filter((p) => visible.has(p.id));
    return renderPortal(c, 'Projects', '/admin/projects', projectsBody({ csrf: c.get('csrf'), projects, isAdmin: c.get('viewer').isAdmin, notice: notice(c) }));
  });

  app.post('/admin/projects', requireAdmin, async (c) => {
    const form = await portalForm(c, base());
    await deps.inventory.addProject((form.name ?? '').trim(), actorOf(c));
    return done(c, '/admin/projects', 'project-added');
  });

  app.post('/admin/projects/:project/members', async (c) => {
    const project = await manageableProject(c, c.req.param('project'));
    const form = await portalForm(c, base());
    const role = form.role ?? 'member';
    // A PI manages members and PIs of their project; the project admin role is given by administrators only.
    if (role === 'admin' && !c.get('viewer').isAdmin) throw new AirlockError('forbidden', 'Only administrators can give the project admin role.');
    await deps.inventory.addMember(project.name, (form.user ?? '').trim(), role as 'member', actorOf(c));
    return done(c, '/admin/projects', 'member-saved');
  });

  app.post('/admin/projects/:project/members/:user/remove', async (c) => {
    const project = await manageableProject(c, c.req.param('project'));
    await portalForm(c, base());
    await deps.inventory.removeMember(project.name, c.req.param('user'), actorOf(c));
    return done(c, '/admin/projects', 'member-removed');
  });

  // ---- targets (item 9) ----

  app.get('/admin/targets', async (c) => {
    const projects = await manageable(c);
    const ids = new Set(projects.map((p) => p.id));
    const targets = (await deps.inventory.listTargets({ includeExpired: false })).filter((t) => ids.has(t.projectId));
    return renderPortal(c, 'Targets', '/admin/targets', targetsBody({ csrf: c.get('csrf'), targets, projects, now: deps.clock.now(), notice: notice(c) }));
  });

  app.post('/admin/targets', async (c) => {
    const form = await portalForm(c, base());
    const project = await manageableProject(c, (form.project ?? '').trim());
    const expiresIn = (form.expires_in ?? '').trim();
    await deps.inventory.addTarget({
      name: (form.name ?? '').trim(), projectName: project.name, host: (form.host ?? '').trim(), port: parsePort((form.port ?? '22').trim(), 'SSH port'),
      loginUser: (form.login_user ?? '').trim() || null,
      services: (form.services ?? '').split(/\r?\n/).map((l) => l.trim()).filter(Boolean).map(parseServiceSpec),
      allowedCidrs: list(form.allowed_cidrs),
      expiresAt: expiresIn === '' ? null : deps.clock.now() + parseDuration(expiresIn, 'expiry'),
    }, actorOf(c), { onlyProjectId: project.id });
    return done(c, '/admin/targets', 'target-added');
  });

  app.post('/admin/targets/:name/remove', async (c) => {
    await portalForm(c, base());
    const projects = await manageable(c);
    const target = await deps.inventory.targetByName(c.req.param('name'));
    const project = projects.find((p) => p.id === target?.projectId);
    if (target === undefined || project === undefined) throw new AirlockError('not_found', 'There is no such target among the projects you manage.');
    await deps.inventory.removeTarget(target.name, actorOf(c), { onlyProjectId: project.id });
    return done(c, '/admin/targets', 'target-removed');
  });

  // ---- API tokens (item 9) ----

  app.get('/admin/tokens', async (c) => {
    const accounts = (await deps.store.users.list()).filter(isServiceAccount).map(userView);
    const projects = (await deps.inventory.listProjects()).map(({ members: _members, ...p }) => p);
    return renderPortal(c, 'API tokens', '/admin/tokens', tokensBody({ csrf: c.get('csrf'), accounts, projects, notice: notice(c) }));
  });

  app.post('/admin/tokens', async (c) => {
    const form = await portalForm(c, base());
    // parseBody keeps only the last value of a repeated field: read every checked scope from the raw form.
    const all = await c.req.parseBody({ all: true });
    const scopes = ([] as unknown[]).concat(all.scope ?? []).filter((s): s is string => typeof s === 'string');
    const ttl = (form.ttl ?? '').trim();
    const created = await deps.apiTokens.create({
      account: (form.account ?? '').trim(), scopes: parseScopes(scopes), projectName: (form.project ?? '').trim() || null,
      ttlMs: ttl === '' ? DEFAULT_API_TOKEN_TTL_MS : parseDuration(ttl, 'lifetime'),
    }, actorOf(c));
    return renderPortal(c, `Token for ${created.account.name}`, '/admin/tokens', tokenCreatedBody({
      account: created.account.name, token: created.token, scopes: created.scopes, project: created.project?.name ?? null, expiresAt: created.record.expiresAt,
    }));
  });

  app.post('/admin/tokens/:account/revoke', async (c) => {
    await portalForm(c, base());
    await deps.apiTokens.revokeAll(c.req.param('account'), actorOf(c));
    return done(c, '/admin/tokens', 'tokens-revoked');
  });

  // ---- certificates and the KRL (item 10) ----

  app.get('/admin/certificates', async (c) => {
    const q = (c.req.query('q') ?? '').slice(0, 128);
    const now = deps.clock.now();
    const [krl, all, user] = await Promise.all([krlStatus(deps.store, now), deps.store.certificates.listAll(), q === '' ? undefined : deps.store.users.byName(q.trim())]);
    return renderPortal(c, 'Certificates', '/admin/certificates', certificatesBody({
      csrf: c.get('csrf'), q, krl, records: searchLedger(all, q), now, userMatch: user?.name ?? null, notice: notice(c),
    }));
  });

  app.post('/admin/certificates/revoke-user', async (c) => {
    const form = await portalForm(c, base());
    const user = await deps.userAdmin.byName((form.user ?? '').trim());
    const back = `/admin/certificates?q=${encodeURIComponent(user.name)}`;
    if (form.confirm !== 'yes') {
      return renderPortal(c, `Revoke ${user.name}'s certificates?`, '/admin/certificates', confirmBody({
        csrf: c.get('csrf'), title: `Revoke all of ${user.name}'s certificates?`, action: '/admin/certificates/revoke-user', button: 'Revoke them all', back,
        text: `Every valid certificate of ${user.name} is revoked at once and their gateway connections that use one end. They can get a new certificate by signing in again.`,
      }));
    }
    await deps.ca.revokeAllOfUser(user, { actor: c.get('user').name, reason: 'revoked by operator', clientAddress: actorOf(c).clientAddress });
    return done(c, back, 'revoked-all');
  });

  app.post('/admin/certificates/:serial/revoke', async (c) => {
    await portalForm(c, base());
    const serial = parseSerialText(c.req.param('serial'));
    const rec = await deps.ca.revoke(serial, { actor: c.get('user').name, reason: 'revoked by operator', clientAddress: actorOf(c).clientAddress });
    return done(c, `/admin/certificates?q=${encodeURIComponent(rec.serial.toString())}`, 'revoked');
  });

  // ---- audit (item 11) ----

  const auditQuery = (c: Context<PortalEnv>): AuditQuery => {
    const pick = (k: string) => (c.req.query(k) ?? '').slice(0, 128);
    return { user: pick('user'), type: pick('type'), outcome: pick('outcome'), from: pick('from'), to: pick('to'), before: pick('before') };
  };

  app.get('/admin/audit', async (c) => {
    const q = auditQuery(c);
    const { events, next } = await auditPage(deps.store.audit, q);
    return renderPortal(c, 'Audit', '/admin/audit', auditBody({ q, events, next }));
  });

  app.get('/admin/audit/export', async (c) => {
    const body = await auditExport(deps.store.audit, auditQuery(c));
    return c.body(body, 200, {
      ...PAGE_HEADERS, 'Content-Type': 'application/x-ndjson; charset=utf-8',
      'Content-Disposition': `attachment; filename="airlock-audit-${new Date(deps.clock.now()).toISOString().slice(0, 10)}.jsonl"`,
    });
  });

  // ---- live gateway connections (item 12) ----

  app.get('/admin/connections', async (c) => {
    const user = (c.req.query('user') ?? '').slice(0, 128).trim();
    const connections = await deps.liveConnections.list({ user });
    return renderPortal(c, 'Connections', '/admin/connections', connectionsBody({ csrf: c.get('csrf'), user, connections, now: deps.clock.now(), notice: notice(c) }));
  });

  app.post('/admin/connections/:id/end', async (c) => {
    await portalForm(c, base());
    const id = c.req.param('id');
    if (!/^[0-9a-f-]{36}$/.test(id)) throw new AirlockError('not_found', 'That connection is no longer open (it ended, or its gateway stopped); reload the list.');
    await deps.liveConnections.end(id, actorOf(c));
    return done(c, '/admin/connections', 'ended');
  });

  return app;
}
