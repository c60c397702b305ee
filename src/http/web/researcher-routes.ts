/**
 * The researcher's portal pages: home, certificate in the browser, keys, certificates ledger with
 * revocation, targets with commands and the ssh config, gateway trust, and account. Every action goes
 * through the same service as the API and CLI (CertificateAuthority, KeyRegistry, Inventory,
 * AccountSecurity, generateSshConfig) so rules and messages are the same everywhere; every POST is a
 * CSRF-checked form; the session and roles are checked on the server for every request.
 */
import { jobCommand, type JobsService } from '../../jobs/jobs-service.ts';
import { Hono } from 'hono';
import { bodyLimit } from '../body-limit.ts';
import QRCode from 'qrcode';
import type { Auditor } from '../../audit/auditor.ts';
import type { CertificateAuthority } from '../../ca/authority.ts';
import { DAY_MS, quotaStatus } from '../../ca/issuance-policy.ts';
import { parseSerialText } from '../../ca/serial-text.ts';
import { generateSshConfig, sshConfigPaths, type GeneratedSshConfig } from '../../cli/ssh-config.ts';
import type { Clock } from '../../clock.ts';
import { formatDuration } from '../../duration.ts';
import { AirlockError, httpStatus, isAirlockError } from '../../errors.ts';
import type { GatewayTrust } from '../../gateway/host-key.ts';
import { AccountSecurity } from '../../identity/account-security.ts';
import { loginNameFor } from '../../identity/user-names.ts';
import type { WebSessions } from '../../identity/web-sessions.ts';
import type { Inventory } from '../../inventory/inventory.ts';
import type { KeyRegistry } from '../../inventory/key-registry.ts';
import { formatPublicKey, parsePublicKey } from '../../ssh/keys.ts';
import type { Store, User } from '../../store/repositories.ts';
import { clientAddress } from '../request.ts';
import { actorOf, portalErrorPage, portalForm, portalSession, renderPortal, type PortalEnv } from './portal-auth.ts';
import {
  accountBody, certStatus, certificateBody, certificatesBody, confirmRevokeBody, homeBody, keysBody, targetsBody, trustBody, type JobView, type TargetView,
} from './researcher-pages.ts';
import { SESSION_COOKIE, clearCookie } from './web-security.ts';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/** What the researcher pages need. */
export interface ResearcherRoutesDeps {
  ca: CertificateAuthority;
  store: Store;
  inventory: Inventory;
  keyRegistry: KeyRegistry;
  sessions: WebSessions;
  audit: Auditor;
  clock: Clock;
  certTtlMs: number;
  certDailyLimit: number;
  /** The issuer name authenticator apps show (AIRLOCK_ISSUER). */
  issuer: string;
  gatewayTrust: () => GatewayTrust | null;
  /** The public base URL (no trailing slash). */
  baseUrl: () => string;
  log: (msg: string, err: unknown) => void;
  /** Per-job endpoints (the same service as the API and `airlock hosts`); absent = jobs off. */
  jobs?: { service: Pick<JobsService, 'forUser'>; gatewayHost: () => string | null } | undefined;
}

// A public key file is a few KiB at most; a form with one is far below this.
const MAX_FORM = 64 * 1024;
// Fixed messages after a redirect (Post/Redirect/Get): the query names one, never carries text.
const DONE: Record<string, string> = {
  added: 'The key was added.',
  deleted: 'The key was deleted.',
  revoked: 'The certificate was revoked.',
  'revoked-all': 'All your valid certificates were revoked.',
};

/** The researcher pages, mounted at the root of the app. */
export function researcherRoutes(deps: ResearcherRoutesDeps): Hono<PortalEnv> {
  const app = new Hono<PortalEnv>();
  const base = () => deps.baseUrl();
  const account = new AccountSecurity({ store: deps.store, clock: deps.clock, audit: deps.audit, issuer: deps.issuer });
  const session = portalSession({ sessions: deps.sessions, inventory: deps.inventory, baseUrl: base });
  const limit = bodyLimit({ maxSize: MAX_FORM, onError: () => { throw new AirlockError('bad_request', 'The form is too large; a public key file is a few kilobytes.'); } });
  const paths = ['/', '/certificate', '/keys', '/keys/*', '/certificates', '/certificates/*', '/targets', '/targets/*', '/trust', '/account', '/account/*'];
  for (const p of paths) app.use(p, limit, session);
  app.onError((err, c) => portalErrorPage(c, err, deps.log));
  const done = (key: string | undefined) => (key !== undefined && Object.hasOwn(DONE, key) ? DONE[key]! : null);

  app.get('/', async (c) => {
    const user = c.get('user');
    const now = deps.clock.now();
    const [projects, certs, keys, issued, targets] = await Promise.all([
      deps.inventory.projectsOfUser(user.id), deps.store.certificates.listByUser(user.id), deps.keyRegistry.listForUser(user.id),
      deps.store.certificates.issuedSince(user.id, now - DAY_MS), deps.inventory.targetsForUser(user.id, now),
    ]);
    const current = certs.filter((r) => r.certType === 'user' && certStatus(r, now) === 'valid');
    return renderPortal(c, 'Home', '/', homeBody({
      name: user.name, email: user.email, projects: projects.map((p) => ({ name: p.name, role: p.role })), current, keys: keys.length,
      quota: quotaStatus(issued, now, deps.certDailyLimit), now, targets: targets.length,
    }));
  });

  // ---- Certificate in the browser -------------------------------------------------------------
  const ttl = () => formatDuration(deps.certTtlMs);
  app.get('/certificate', (c) => renderPortal(c, 'Get a certificate', '/certificate', certificateBody({ csrf: c.get('csrf'), ttl: ttl(), error: null })));

  app.post('/certificate', async (c) => {
    // The page's script asks for text (it saves the file itself); a plain form gets the file as a download.
    const wantsText = (c.req.header('accept') ?? '').startsWith('text/plain');
    try {
      const form = await portalForm(c, base());
      const text = (form.public_key ?? '').trim() || (form.public_key_file ?? '').trim();
      if (text === '') throw new AirlockError('bad_request', 'Paste a public key or choose a .pub file.');
      // The same parser and the same issuance as POST /api/v1/certificates.
      const issued = await deps.ca.issueUserCertificate({
        user: c.get('user'), publicKey: parsePublicKey(text), method: `web:${c.get('webSession').method}`, clientAddress: clientAddress(c),
      });
      const headers: Record<string, string> = { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' };
      if (!wantsText) headers['Content-Disposition'] = 'attachment; filename="airlock-key-cert.pub"';
      return c.body(`${issued.line}\n`, 201, headers);
    } catch (err) {
      if (!isAirlockError(err)) throw err;
      if (wantsText) return c.text(err.message, httpStatus(err.code) as ContentfulStatusCode, { 'Cache-Control': 'no-store' });
      return renderPortal(c, 'Get a certificate', '/certificate', certificateBody({ csrf: c.get('csrf'), ttl: ttl(), error: err.message }), httpStatus(err.code) as ContentfulStatusCode);
    }
  });

  // ---- Keys --------------------------------------------------------------------------------------
  const keysPage = async (c: Parameters<typeof renderPortal>[0], message: string | null, error: string | null, status: ContentfulStatusCode = 200) => {
    const keys = await deps.keyRegistry.listForUser(c.get('user').id);
    return renderPortal(c, 'My keys', '/keys', keysBody({ csrf: c.get('csrf'), keys, message, error }), status);
  };
  app.get('/keys', (c) => keysPage(c, done(c.req.query('done')), null));

  const keyAction = (action: (user: User, form: Record<string, string>, actor: { name: string; clientAddress: string | null }) => Promise<unknown>, doneKey: string) =>
    async (c: Parameters<typeof renderPortal>[0]) => {
      const form = await portalForm(c, base());
      try {
        await action(c.get('user'), form, actorOf(c));
      } catch (err) {
        // The registry's own messages (invalid_key, weak_key, conflict, quota_exceeded): the API's words.
        if (isAirlockError(err) && err.code !== 'internal' && err.code !== 'unavailable') return keysPage(c, null, err.message, httpStatus(err.code) as ContentfulStatusCode);
        throw err;
      }
      return c.redirect(`/keys?done=${doneKey}`, 303);
    };
  app.post('/keys', keyAction(async (user, form, actor) => {
    const text = (form.public_key ?? '').trim() || (form.key_file ?? '').trim();
    if (text === '') throw new AirlockError('bad_request', 'Paste a public key or choose a .pub file.');
    await deps.keyRegistry.add({ id: user.id, name: user.name }, text, actor);
  }, 'added'));
  app.post('/keys/delete', keyAction((user, form, actor) => deps.keyRegistry.remove({ id: user.id, name: user.name }, form.fingerprint ?? '', actor), 'deleted'));

  // ---- Certificates ledger -------------------------------------------------------------------
  app.get('/certificates', async (c) => {
    const certs = (await deps.store.certificates.listByUser(c.get('user').id)).filter((r) => r.certType === 'user');
    return renderPortal(c, 'My certificates', '/certificates', certificatesBody({ certs, now: deps.clock.now(), message: done(c.req.query('done')) }));
  });
  const ownCertificate = async (user: User, serialText: string) => {
    const rec = await deps.store.certificates.bySerial(parseSerialText(serialText));
    // Another user's serial reads exactly like an unknown one (no probing of others' ledgers).
    if (rec === undefined || rec.userId !== user.id) throw new AirlockError('not_found', 'You have no certificate with that serial; see My certificates.');
    return rec;
  };
  app.get('/certificates/revoke', async (c) => {
    const rec = await ownCertificate(c.get('user'), c.req.query('serial') ?? '');
    return renderPortal(c, 'Revoke a certificate', '/certificates', confirmRevokeBody({ csrf: c.get('csrf'), cert: rec, count: 1 }));
  });
  app.post('/certificates/revoke', async (c) => {
    const form = await portalForm(c, base());
    const user = c.get('user');
    const rec = await ownCertificate(user, form.serial ?? '');
    // The same call as DELETE /api/v1/certificates/:serial.
    await deps.ca.revoke(rec.serial, { actor: user.name, owner: user, reason: 'revoked by owner', clientAddress: clientAddress(c) });
    return c.redirect('/certificates?done=revoked', 303);
  });
  app.get('/certificates/revoke-all', async (c) => {
    const now = deps.clock.now();
    const count = (await deps.store.certificates.listByUser(c.get('user').id)).filter((r) => r.certType === 'user' && certStatus(r, now) === 'valid').length;
    return renderPortal(c, 'Revoke all certificates', '/certificates', confirmRevokeBody({ csrf: c.get('csrf'), cert: null, count }));
  });
  app.post('/certificates/revoke-all', async (c) => {
    await portalForm(c, base());
    const user = c.get('user');
    await deps.ca.revokeAllOfUser(user, { actor: user.name, reason: 'revoked by owner', clientAddress: clientAddress(c) });
    return c.redirect('/certificates?done=revoked-all', 303);
  });

  // ---- Targets and the ssh config ---------------------------------------------------------------
  const defaultHome = (user: User) => `/home/${loginNameFor(user.name)}`;
  const generated = async (user: User, home: string): Promise<GeneratedSshConfig> => {
    const trust = deps.gatewayTrust();
    if (trust === null || trust.host === null || trust.port === null) throw new AirlockError('unavailable', 'The gateway\'s address is not known to this server, so no ssh config can be made; ask your operators.');
    const windows = /^[A-Za-z]:\\/.test(home);
    const paths = sshConfigPaths(home.replace(/[\\/]+$/, ''));
    const key = windows ? `${home.replace(/[\\/]+$/, '')}\\.ssh\\airlock-key` : `${paths.dir.replace(/\/airlock$/, '')}/airlock-key`;
    const targets = await deps.inventory.targetsForUser(user.id, deps.clock.now());
    // The generator `airlock config` runs (src/cli/ssh-config.ts): the same text, checked the same way.
    return generateSshConfig({
      server: base(), user: user.name, gateway: { host: trust.host, port: trust.port, hostKey: trust.hostKey },
      hostCaKey: formatPublicKey(deps.ca.hostCaKey, 'airlock-host-ca'),
      targets: targets.map((t) => ({ name: t.name, port: t.port, login_user: t.loginUser, project: t.projectName })),
      identityFile: key, certificateFile: `${key}-cert.pub`, paths, windows,
    });
  };
  app.get('/targets', async (c) => {
    const user = c.get('user');
    const trust = deps.gatewayTrust();
    const targets = await deps.inventory.targetsForUser(user.id, deps.clock.now());
    const gw = trust?.endpoint ?? null;
    const jump = trust?.host && trust.port ? `${user.name}@${trust.host.includes(':') ? `[${trust.host}]` : trust.host}${trust.port === 22 ? '' : `:${trust.port}`}` : 'GATEWAY';
    const views: TargetView[] = targets.map((t) => ({
      target: t,
      sshJ: `ssh -J ${jump} ${t.port === 22 ? '' : `-p ${t.port} `}${t.loginUser ?? loginNameFor(user.name)}@${t.name}`,
      tunnels: t.services.map((s) => ({ service: s.name, line: `airlock tunnel ${t.name} ${s.name}`, url: `http://127.0.0.1:LOCAL_PORT${s.path ?? '/'}` })),
    }));
    let skipped: { name: string; reason: string }[] = [];
    try {
      if (trust !== null) skipped = (await generated(user, defaultHome(user))).skipped;
    } catch {
      skipped = [];
    }
    // Jobs: a port of their own on the gateway, so the ready command needs no ssh config (jobs-service.ts).
    const jobHost = deps.jobs?.gatewayHost() ?? trust?.host ?? 'GATEWAY';
    const jobs: JobView[] = deps.jobs === undefined ? [] : (await deps.jobs.service.forUser(user.id)).map((j) => ({
      job: j, command: jobCommand(j, jobHost, user.name), host: jobHost, user: user.name,
    }));
    return renderPortal(c, 'Targets', '/targets', targetsBody({ gateway: gw, targets: views, jobs, skipped, home: defaultHome(user) }));
  });
  const download = (which: 'config' | 'knownHosts', name: string) => async (c: Parameters<typeof renderPortal>[0]) => {
    const user = c.get('user');
    const home = (c.req.query('home') ?? '').trim() || defaultHome(user);
    const g = await generated(user, home.slice(0, 256));
    return c.body(g[which], 200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Disposition': `attachment; filename="${name}"`, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
  };
  app.get('/targets/ssh-config', download('config', 'config'));
  app.get('/targets/known-hosts', download('knownHosts', 'known_hosts'));

  // ---- Gateway trust --------------------------------------------------------------------------
  app.get('/trust', (c) => renderPortal(c, 'Gateway trust', '/trust', trustBody({
    trust: deps.gatewayTrust(), certAuthorityLine: deps.ca.certAuthorityLine(), userCaLine: formatPublicKey(deps.ca.userCaKey, 'airlock-user-ca'),
  })));

  // ---- Account ---------------------------------------------------------------------------------
  const accountPage = async (c: Parameters<typeof renderPortal>[0], extra: { message?: string; error?: string; qr?: { dataUrl: string; uri: string } }, status: ContentfulStatusCode = 200) => {
    const user = c.get('user');
    const [recoveryLeft, signedIn] = await Promise.all([account.recoveryCodesLeft(user), account.signedIn(user)]);
    return renderPortal(c, 'Account', '/account', accountBody({
      csrf: c.get('csrf'), hasTotp: user.totpSecret !== null, recoveryLeft, webSessions: signedIn.webSessions, tokens: signedIn.tokens, currentSessionId: c.get('webSession').id,
      message: extra.message ?? null, error: extra.error ?? null, qr: extra.qr ?? null,
    }), status);
  };
  app.get('/account', (c) => accountPage(c, {}));
  app.post('/account/totp', async (c) => {
    const form = await portalForm(c, base());
    try {
      const { totpUri } = await account.reenrolTotp(c.get('user'), (form.recovery_code ?? '').trim(), actorOf(c));
      // Rendered in this response only (never stored for a later GET): the QR is shown once.
      const dataUrl = await QRCode.toDataURL(totpUri, { errorCorrectionLevel: 'M', margin: 2, width: 224 });
      return await accountPage(c, { message: 'Your authenticator was reset. Scan the new code below.', qr: { dataUrl, uri: totpUri } });
    } catch (err) {
      if (isAirlockError(err, 'unauthenticated')) return accountPage(c, { error: err.message }, 401);
      throw err;
    }
  });
  app.post('/account/sign-out-everywhere', async (c) => {
    await portalForm(c, base());
    await account.signOutEverywhere(c.get('user'), actorOf(c));
    clearCookie(c, SESSION_COOKIE, base());
    return c.redirect('/login', 303);
  });

  return app;
}
