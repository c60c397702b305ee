/**
 * The composition root: the one place that builds the store, the CA, identity and the HTTP API from
 * the configuration and wires them together — for `airlock serve` and for the operator commands, which
 * act on the same data directory or database.
 */
import { mkdirSync } from 'node:fs';
import { writeFileAtomic } from './files.ts';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { ServerType } from '@hono/node-server';
import type { Config } from './config.ts';
import { systemClock, type Clock } from './clock.ts';
import { createStore } from './store/kysely-store.ts';
import type { AuditEvent, Store } from './store/repositories.ts';
import { loadCaKeys, type CaKeys } from './ca/ca-keys.ts';
import { CertificateAuthority } from './ca/authority.ts';
import { createAuditor, type Auditor } from './audit/auditor.ts';
import { LocalLogin } from './identity/local-login.ts';
import { SessionTokens } from './identity/session-tokens.ts';
import { CallerCache, watchCredentials } from './identity/caller-cache.ts';
import { withCredentialWrites } from './store/credential-writes.ts';
import { createHttpApp } from './http/app.ts';
import { serveHttp } from './http/listener.ts';
import { createBrowserLoginServices, type BrowserLoginServices } from './identity/browser-login-services.ts';
import { Inventory } from './inventory/inventory.ts';
import { KeyRegistry } from './inventory/key-registry.ts';
import { ApiTokens } from './inventory/api-tokens.ts';
import { UserAdmin } from './identity/user-admin.ts';
import { LiveConnections } from './ops/live-connections.ts';
import { JobsService } from './jobs/jobs-service.ts';
import { createLogger, stderrSink } from './log.ts';
import { startGateway, type Gateway } from './gateway/gateway.ts';
import { formatEndpoint, loadOrCreateHostKey } from './gateway/host-key.ts';
import { defaultHostNames, GatewayHostCertificate } from './gateway/host-certificate.ts';
import { ServiceMetrics } from './ops/metrics.ts';
import type { ReadinessCheck, ReadinessReport } from './http/ops-routes.ts';
import { cidrListContains, parseCidr } from './ssh/cidr.ts';
import { canonicalClientAddress } from './policy/forward.ts';
import { Drain, type DrainResult } from './ops/drain.ts';
import { openPgNotifier, type ChangeNotifier } from './store/pg-notifier.ts';
import { DecisionFeed } from './identity/decision-feed.ts';

/** A readiness check that takes longer than this fails (a load balancer would rather move on). */
const READINESS_TIMEOUT_MS = 2000;

export interface Core {
  config: Config;
  clock: Clock;
  store: Store;
  keys: CaKeys;
  audit: Auditor;
  ca: CertificateAuthority;
  login: LocalLogin;
  tokens: SessionTokens;
  /** Projects, members and targets (`keys` above is the CA's; the users' keys are `keyRegistry`). */
  inventory: Inventory;
  keyRegistry: KeyRegistry;
  apiTokens: ApiTokens;
  /** The operator's actions on users (CLI and web pages share it). */
  userAdmin: UserAdmin;
  /** Live gateway connections on every replica, for operators. */
  liveConnections: LiveConnections;
  /** Per-job endpoints (jobs/jobs-service.ts); creating one fails with a clear error without AIRLOCK_JOB_PORTS. */
  jobs: JobsService;
  close(): Promise<void>;
}

/** Opens the data directory, the store and the CA keys, and builds the cores. */
export async function openCore(config: Config, opts: { clock?: Clock; log?: ((line: string) => void) | null; observeAudit?: (event: AuditEvent) => void } = {}): Promise<Core> {
  const clock = opts.clock ?? systemClock;
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  // Token lookups are cached; an in-process revocation or user change empties the cache at once, one
  // elsewhere within CREDENTIALS_WATCH_MS (identity/caller-cache.ts).
  const callers = new CallerCache();
  const store = withCredentialWrites(await createStore({ url: config.databaseUrl, dataDir: config.dataDir }), () => callers.invalidate());
  let keys: CaKeys;
  try {
    keys = loadCaKeys(config.dataDir, config.caPassphrase);
  } catch (err) {
    await store.close();
    throw err;
  }
  const audit = createAuditor({ repository: store.audit, clock, log: opts.log, ...(opts.observeAudit ? { observe: opts.observeAudit } : {}) });
  const krlPath = join(config.dataDir, 'revoked.krl');
  const ca = new CertificateAuthority({
    keys, store, clock, audit,
    policy: { ttlMs: config.certTtlMs, dailyLimit: config.certDailyLimit, allowAgentForwarding: false },
    issuer: config.issuer,
    // Keep a copy next to the database so that a node sharing the filesystem can point RevokedKeys at it.
    onRevocation: (krl) => writeFileAtomic(krlPath, krl),
  });
  const login = new LocalLogin({ store, clock, audit: (e) => audit.record(e) });
  const tokens = new SessionTokens({ store, clock, cache: callers });
  const inventory = new Inventory({ store, clock, audit });
  const keyRegistry = new KeyRegistry({ store, clock, audit });
  const apiTokens = new ApiTokens({ store, tokens, audit, clock });
  const userAdmin = new UserAdmin({ store, ca, audit, clock, issuer: config.issuer });
  const liveConnections = new LiveConnections({ repository: store.liveConnections, clock, audit, intervalMs: config.gateway.liveCheckMs });
  const jobs = new JobsService({ store, clock, audit, pool: config.jobPorts, forwardingAllowed: config.jobForwarding });
  const stopWatch = watchCredentials(callers, store.settings);
  const close = (): Promise<void> => {
    stopWatch();
    return store.close();
  };
  return { config, clock, store, keys, audit, ca, login, tokens, inventory, keyRegistry, apiTokens, userAdmin, liveConnections, jobs, close };
}

export interface RunningServer {
  core: Core;
  httpUrl: string;
  /** `HOST:PORT` the SSH gateway listens on. */
  sshEndpoint: string | null;
  gateway: Gateway;
  /** Browser login: login requests, web sessions, OIDC. */
  browserLogin: BrowserLoginServices;
  /** The service's Prometheus metrics (`/metrics`). */
  metrics: ServiceMetrics;
  /** The HTTP application the listener serves (e.g. to serve it another way in a test). */
  httpApp: ReturnType<typeof createHttpApp>;
  /** What `/readyz` answers. */
  readiness(): Promise<ReadinessReport>;
  /**
   * SIGTERM (ops/drain.ts): not ready from now on, no new SSH connections, live sessions run on for up
   * to `AIRLOCK_DRAIN_TIMEOUT` and are then ended with a message; then everything closes.
   * `hurry()` on the returned handle ends the wait early.
   */
  drain(): { done: Promise<DrainResult>; hurry(): void };
  close(): Promise<void>;
}

function listen(server: ServerType): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    if (server.listening) resolve(server.address() as AddressInfo);
    server.once('listening', () => resolve(server.address() as AddressInfo));
    server.once('error', reject);
  });
}

/** The PostgreSQL channel that carries browser-login decisions between replicas. */
const DECISIONS_CHANNEL = 'airlock_browser_login';

/** How often expired browser-login requests are pruned. */
const PRUNE_INTERVAL_MS = 5 * 60_000;

const hostForUrl = (host: string): string => (host.includes(':') ? `[${host}]` : host);

/** Starts `airlock serve`: the SSH gateway and the HTTP API on the configured listeners. */
export async function startServer(config: Config, opts: { clock?: Clock; log?: ((line: string) => void) | null } = {}): Promise<RunningServer> {
  // Metrics read the gateway and the store at scrape time; both exist only after the steps below.
  const parts: { gateway?: Gateway; store?: Store } = {};
  const metrics = new ServiceMetrics({ gateway: () => parts.gateway?.stats() ?? null, pool: () => parts.store?.poolStats() ?? null });
  const core = await openCore(config, { ...opts, observeAudit: (e) => metrics.observeAudit(e) });
  parts.store = core.store;
  const logger = createLogger(opts.log === undefined ? stderrSink : opts.log);
  // Filled once HTTP listens: forwarding must never reach the service's own ports.
  const httpListeners: { address: string; port: number }[] = [];
  // Known once HTTP listens (port 0 picks one); links built before that use the configured address.
  const listening: { url?: string } = {};
  // Approvals reach a session waiting on another replica by LISTEN/NOTIFY (the wait polls as well).
  let notifier: ChangeNotifier | null = null;
  if (core.store.dialect === 'postgres' && config.databaseUrl !== undefined) {
    notifier = await openPgNotifier(config.databaseUrl, DECISIONS_CHANNEL, (msg, fields) => logger.warn(msg, fields));
  }
  const browserLogin = createBrowserLoginServices({
    config, store: core.store, clock: core.clock, audit: core.audit, feed: new DecisionFeed(notifier),
    baseUrl: () => config.publicUrl ?? listening.url ?? `http://${hostForUrl(config.httpListen.host)}:${config.httpListen.port}`,
  });
  let gateway: Gateway;
  let hostCertificate: GatewayHostCertificate | undefined;
  try {
    const hostKey = loadOrCreateHostKey(config.dataDir);
    // Certified by the host CA, so that one @cert-authority line trusts the gateway and the nodes.
    hostCertificate = await GatewayHostCertificate.start({
      hostKey, principals: config.sshHostNames ?? defaultHostNames(config.sshListen.host, config.sshPublic?.host),
      ca: core.ca, clock: core.clock, logger,
    });
    gateway = await startGateway({
      config: config.gateway, listen: config.sshListen, publicAddress: config.sshPublic,
      hostKey, hostCertificate, userCaKey: core.ca.userCaKey,
      store: core.store, audit: core.audit, clock: core.clock, inventory: core.inventory, keys: core.keyRegistry,
      otherListeners: () => httpListeners,
      browserLogin: { logins: browserLogin.logins, ca: core.ca },
      trustedProxies: config.trustedProxies,
      logger,
      jobs: config.jobPorts === null ? undefined : { ca: core.ca, forwarding: config.jobForwarding },
    });
  } catch (err) {
    hostCertificate?.stop();
    await notifier?.close();
    await core.close();
    throw err;
  }
  parts.gateway = gateway;
  let draining: Drain | null = null;
  let drainHandle: { done: Promise<DrainResult>; hurry(): void } | null = null;
  const metricsAllow = config.metricsAllow.map((c) => parseCidr(c));
  const readiness = async (): Promise<ReadinessReport> => {
    const database = await withTimeout(core.store.ping(), READINESS_TIMEOUT_MS, 'the database did not answer');
    const checks: Record<string, ReadinessCheck> = {
      database,
      ca_keys: core.ca.userCaKey && core.ca.hostCaKey ? { ok: true } : { ok: false, message: 'the CA keys are not loaded' },
      ssh_listener: gateway.listening ? { ok: true } : { ok: false, message: 'the SSH gateway is not listening' },
      // A stopping replica tells the load balancer at once, before its listeners close.
      draining: draining === null ? { ok: true } : { ok: false, message: 'the service is shutting down' },
    };
    return { ready: Object.values(checks).every((c) => c.ok), checks };
  };
  const app = createHttpApp({
    ops: {
      metrics,
      readiness,
      metricsAllowed: (address) => {
        const a = address === null ? undefined : canonicalClientAddress(address);
        return a !== undefined && cidrListContains(metricsAllow, a);
      },
    },
    gatewayTrust: () => gateway.trust(),
    jobs: { service: core.jobs, gatewayHost: () => gateway.publicAddress.host },
    log: (msg, err) => logger.error(msg, err),
    ca: core.ca, login: core.login, tokens: core.tokens, store: core.store, clock: core.clock,
    inventory: core.inventory, keyRegistry: core.keyRegistry,
    sessionTtlMs: config.sessionTtlMs, certTtlMs: config.certTtlMs, certDailyLimit: config.certDailyLimit, issuer: config.issuer,
    trustedProxies: config.trustedProxies, trustedProxyHeader: config.trustedProxyHeader,
    browserLogin: { ...browserLogin, password: core.login, audit: core.audit },
    operator: { userAdmin: core.userAdmin, apiTokens: core.apiTokens, liveConnections: core.liveConnections },
  });
  const http = serveHttp(app.fetch, { hostname: config.httpListen.host, port: config.httpListen.port });
  let addr: AddressInfo;
  try {
    addr = await listen(http);
  } catch (err) {
    await gateway.close();
    hostCertificate.stop();
    await notifier?.close();
    await core.close();
    throw err;
  }
  httpListeners.push({ address: config.httpListen.host, port: addr.port });
  const httpUrl = `http://${hostForUrl(config.httpListen.host)}:${addr.port}`;
  listening.url = httpUrl;
  // Abandoned browser-login requests (anyone can start one) are deleted once they are long expired;
  // on a timer, so that the table shrinks even when nobody starts new ones. Every replica may run it.
  const pruner = setInterval(() => {
    browserLogin.logins.pruneExpired().catch((err: unknown) => logger.error('pruning expired browser-login requests failed', err));
  }, PRUNE_INTERVAL_MS);
  pruner.unref();
  const sshEndpoint = formatEndpoint(gateway.address.host, gateway.address.port);
  const endpoints = { ssh: sshEndpoint, http: httpUrl };
  writeFileAtomic(join(config.dataDir, 'endpoints.json'), JSON.stringify(endpoints, null, 2) + '\n');
  const running: RunningServer = {
    core,
    httpUrl,
    sshEndpoint,
    gateway,
    browserLogin,
    metrics,
    httpApp: app,
    readiness,
    drain() {
      if (drainHandle === null) {
        // The SSH listeners; per-job listeners join this list.
        const drain = new Drain([gateway], config.drainTimeoutMs);
        draining = drain;
        logger.info('draining', { timeout_ms: config.drainTimeoutMs, open_connections: gateway.openConnections });
        const done = drain.run().then(async (result) => {
          logger.info('drained', { ended_connections: result.ended, ms: result.ms });
          await running.close();
          return result;
        });
        drainHandle = { done, hurry: () => drain.hurry() };
      }
      return drainHandle;
    },
    async close() {
      clearInterval(pruner);
      await gateway.close();
      hostCertificate.stop();
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        // Bearer-token clients keep connections alive; do not let them hold shutdown hostage.
        (http as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      await notifier?.close();
      await core.close();
    },
  };
  return running;
}

/** Resolves to a passing check when `p` settles in time, and to a failing one (with `message`) otherwise. */
async function withTimeout(p: Promise<unknown>, ms: number, message: string): Promise<ReadinessCheck> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<ReadinessCheck>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, message: `${message} within ${ms} ms` }), ms);
  });
  try {
    // The cause stays out of the answer: /readyz is public, and a driver's error can name hosts and users.
    return await Promise.race([p.then(() => ({ ok: true }), () => ({ ok: false, message })), late]);
  } finally {
    clearTimeout(timer);
  }
}
