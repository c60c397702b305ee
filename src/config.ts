/**
 * Service configuration: flags, then environment variables, then an optional JSON config file, then
 * defaults — in that order of precedence (PRODUCT.md). Secrets (the CA passphrase) come only from the
 * environment, never from flags, so they do not show up in `ps`.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { AirlockError } from './errors.ts';
import { parseDuration } from './duration.ts';
import { parseCidr } from './ssh/cidr.ts';
import { parseHostNames } from './gateway/host-certificate.ts';
import { parseJobForwarding, parseJobsConfig } from './jobs/jobs-config.ts';
import type { JobForwarding, PortPool } from './jobs/job.ts';
import { firstFactors, parseChainOverrides, parseChains, type AuthChainPolicy } from './gateway/auth-chains.ts';
import { OIDC_FILE_KEYS, parseOidcSettings, type OidcSettings } from './identity/oidc-settings.ts';

export interface Config {
  dataDir: string;
  sshListen: { host: string; port: number };
  httpListen: { host: string; port: number };
  /** Base URL that users reach the web app and API at; defaults to the HTTP listener's. */
  publicUrl: string | undefined;
  /** `postgres://…` moves state to PostgreSQL; unset = SQLite in the data directory. */
  databaseUrl: string | undefined;
  certTtlMs: number;
  certDailyLimit: number;
  /** Lifetime of host certificates minted by `admin host-cert` unless given. */
  hostCertTtlMs: number;
  /** Lifetime of bearer tokens from password sign-in. */
  sessionTtlMs: number;
  /** When set, CA private keys are stored encrypted with it. */
  caPassphrase: string | undefined;
  /** Name shown in TOTP apps and certificates' key IDs. */
  issuer: string;
  /** The SSH address users are told to connect to (lobby, gateway-info); unset = the listen address. A missing port means the listener's. */
  sshPublic: { host: string; port: number | undefined } | undefined;
  /** Names clients use for the gateway, certified in its host certificate (`AIRLOCK_SSH_HOST_NAMES`); unset = the public SSH host, else the listen host. */
  sshHostNames: string[] | undefined;
  gateway: GatewayConfig;
  /** OIDC federation (`AIRLOCK_OIDC_*`); null when not configured. */
  oidc: OidcSettings | null;
  /** How long a browser login link (SSH or `airlock login --browser`) can be approved. */
  browserLoginTtlMs: number;
  /** Lifetime of a web session (the sign-in that approves logins). */
  webSessionTtlMs: number;
  /**
   * Reverse proxies and load balancers whose word on the client's address is believed
   * (`AIRLOCK_TRUSTED_PROXIES`, CIDRs): `Forwarded` / `X-Forwarded-For` on HTTP and the PROXY protocol on
   * SSH are honoured only from these peers. Empty (the default) = the socket's peer is the client.
   */
  trustedProxies: string[];
  /** Client addresses that may read `/metrics` (`AIRLOCK_METRICS_ALLOW`, CIDRs; default loopback only). */
  metricsAllow: string[];
  /**
   * The one header the trusted proxies set (`AIRLOCK_TRUSTED_PROXY_HEADER`: `x-forwarded-for`, the
   * default, or `forwarded`). Only one is read: a proxy passes the other through untouched from the client.
   */
  trustedProxyHeader: 'x-forwarded-for' | 'forwarded';
  /** Browser-login requests (SSH keyboard-interactive and device flow) one client address may start per minute. */
  browserLoginRatePerAddress: number;
  /** Browser-login requests this process starts per minute in total. */
  browserLoginRateTotal: number;
  /** On SIGTERM, how long live sessions may run on before they are closed (`AIRLOCK_DRAIN_TIMEOUT`; 0 = at once). */
  drainTimeoutMs: number;
  /** Gateway ports for per-job endpoints (`AIRLOCK_JOB_PORTS`, `AIRLOCK_JOB_PORT_QUARANTINE`); null = jobs off. */
  jobPorts: PortPool | null;
  /** What jobs may be registered with beyond the defaults (`AIRLOCK_JOB_FORWARDING`: x11, agent); empty = nothing. */
  jobForwarding: JobForwarding[];
}

/** Tunables of the SSH gateway (`AIRLOCK_GATEWAY_*`). */
export interface GatewayConfig {
  /** First factors enabled by any chain below (certificate, registered key). */
  authMethods: ('certificate' | 'publickey')[];
  /**
   * Authentication chains (`AIRLOCK_GATEWAY_AUTH`, e.g. `certificate,publickey+browser`; default certificate
   * only), with per-user and per-project overrides (`AIRLOCK_GATEWAY_AUTH_USERS`, `…_PROJECTS`).
   */
  authChains: AuthChainPolicy;
  /** Browser login: wait for Enter (`enter`, default) or continue without a keypress (`none`). */
  browserPrompt: 'enter' | 'none';
  /** Unauthenticated connections are closed after this (OpenSSH LoginGraceTime). */
  loginGraceMs: number;
  /** Concurrent unauthenticated connections from one address (IPv6: one /64); the next is refused. */
  maxUnauthenticatedPerAddress: number;
  /** Concurrent unauthenticated connections in total (OpenSSH MaxStartups, without the random early drop). */
  maxUnauthenticated: number;
  /** Failed authentication attempts per connection before it is closed (OpenSSH MaxAuthTries). */
  maxAuthTries: number;
  /** Penalties for addresses that fail or idle without authenticating (OpenSSH PerSourcePenalties). */
  penalties: boolean;
  /** Longest refusal an address can accumulate. */
  penaltyMaxMs: number;
  /** CIDRs never penalised (load balancer health checks, monitoring). */
  penaltyExempt: string[];
  /** Authenticated connections of one user at a time, per gateway process; the next login is disconnected. */
  maxConnectionsPerUser: number;
  /** Authenticated connections from one client address (IPv6: one /64) at a time, per gateway process. */
  maxConnectionsPerAddress: number;
  /** Open channels (sessions and forwards) of one user over all connections, per gateway process. */
  maxChannelsPerUser: number;
  /** Rekey a connection after this many bytes in either direction together. */
  rekeyBytes: number;
  /** Rekey a connection after this long. */
  rekeyIntervalMs: number;
  /** Onward TCP connections give up after this. */
  connectTimeoutMs: number;
  /** For tests and single-host demos only, never in production: lets targets be loopback addresses. */
  allowLoopbackTargets: boolean;
  /** Logins without a certificate's `validBefore` (browser alone, registered key) end after this long (`AIRLOCK_GATEWAY_MAX_SESSION`). */
  maxSessionMs: number;
  /** How often the gateway looks for revocations, disabled users and removed targets (`AIRLOCK_GATEWAY_LIVE_CHECK`). */
  liveCheckMs: number;
}

/** The keys accepted in a config file, in env-variable form without the `AIRLOCK_` prefix, lower case. */
const FILE_KEYS = [
  'data_dir', 'ssh_listen', 'http_listen', 'public_url', 'database_url', 'cert_ttl', 'cert_daily_limit',
  'host_cert_ttl', 'session_ttl', 'issuer', 'ssh_public', 'ssh_host_names', 'gateway_auth', 'gateway_login_grace',
  'gateway_max_unauth_per_address', 'gateway_max_unauth', 'gateway_max_auth_tries', 'gateway_penalties',
  'gateway_penalty_max', 'gateway_penalty_exempt', 'gateway_rekey_bytes', 'gateway_rekey_interval', 'gateway_connect_timeout',
  'gateway_auth_users', 'gateway_auth_projects', 'gateway_browser_prompt', 'gateway_max_session', 'gateway_live_check',
  'gateway_max_connections_per_user', 'gateway_max_connections_per_address', 'gateway_max_channels_per_user',
  'browser_login_ttl', 'web_session_ttl', 'trusted_proxies', 'trusted_proxy_header', 'metrics_allow',
  'browser_login_rate_per_address', 'browser_login_rate_total', 'job_ports', 'job_port_quarantine', 'job_forwarding', ...OIDC_FILE_KEYS,
  'drain_timeout',
] as const;
type FileKey = (typeof FILE_KEYS)[number];

export interface ConfigSources {
  flags?: Partial<Record<FileKey, string | undefined>>;
  env?: NodeJS.ProcessEnv;
  /** Path of a JSON config file; falls back to `AIRLOCK_CONFIG`. */
  configFile?: string | undefined;
}

/** Parses `HOST:PORT` (IPv6 in brackets); port 0 means "pick a free port". */
export function parseListen(text: string, what: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new AirlockError('config', `Invalid ${what} "${text}": use HOST:PORT, for example 127.0.0.1:2222 or [::1]:0.`);
  }
  return { host: (m[1] ?? m[2])!, port };
}

function readConfigFile(path: string): Partial<Record<FileKey, string>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new AirlockError('config', `Cannot read config file ${path}: ${(cause as Error).message}`, { cause });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new AirlockError('config', `Config file ${path} must hold a JSON object.`);
  }
  const out: Partial<Record<FileKey, string>> = {};
  for (const [k, v] of Object.entries(parsed)) {
    if (!(FILE_KEYS as readonly string[]).includes(k)) {
      throw new AirlockError('config', `Unknown key "${k}" in ${path}; known keys: ${FILE_KEYS.join(', ')}.`);
    }
    if (typeof v !== 'string' && typeof v !== 'number') {
      throw new AirlockError('config', `Key "${k}" in ${path} must be a string or number.`);
    }
    out[k as FileKey] = String(v);
  }
  return out;
}

/** Parses a byte count: `1073741824`, `512M`, `1G` (binary units). */
export function parseByteSize(text: string, what: string): number {
  const m = /^(\d+)\s*([KMGT]i?B?|B)?$/i.exec(text.trim());
  const units: Record<string, number> = { '': 1, B: 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };
  const unit = m?.[2]?.[0]?.toUpperCase() ?? '';
  const n = m ? Number(m[1]) * (units[unit === 'B' ? 'B' : unit] ?? NaN) : NaN;
  if (!Number.isSafeInteger(n)) throw new AirlockError('config', `Invalid ${what} "${text}": use a number of bytes or forms like 512M, 1G.`);
  return n;
}

function wholeNumber(text: string, what: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n < min || n > max) throw new AirlockError('config', `Invalid ${what} "${text}": use a whole number from ${min} to ${max}.`);
  return n;
}

function onOff(text: string, what: string): boolean {
  const t = text.trim().toLowerCase();
  if (['1', 'on', 'yes', 'true'].includes(t)) return true;
  if (['0', 'off', 'no', 'false'].includes(t)) return false;
  throw new AirlockError('config', `Invalid ${what} "${text}": use on or off.`);
}

function parseSshPublic(text: string): { host: string; port: number | undefined } {
  const t = text.trim();
  if (/^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):\d{1,5}$/.test(t)) {
    const { host, port } = parseListen(t, 'public SSH address (AIRLOCK_SSH_PUBLIC)');
    if (port === 0) throw new AirlockError('config', 'AIRLOCK_SSH_PUBLIC needs a real port, not 0.');
    return { host, port };
  }
  const bare = t.replace(/^\[(.*)\]$/, '$1');
  if (!/^[A-Za-z0-9.:_-]{1,253}$/.test(bare)) throw new AirlockError('config', `Invalid public SSH address "${text}": use HOST or HOST:PORT.`);
  return { host: bare, port: undefined };
}

/** The forwarded header the trusted proxies set. */
function proxyHeader(text: string): 'x-forwarded-for' | 'forwarded' {
  const v = text.trim().toLowerCase();
  if (v === 'x-forwarded-for' || v === 'forwarded') return v;
  throw new AirlockError('config', `AIRLOCK_TRUSTED_PROXY_HEADER must be x-forwarded-for or forwarded, not "${text.slice(0, 32)}".`);
}

/** A comma-separated CIDR list; each entry must parse. */
function cidrList(text: string | undefined, what: string): string[] {
  const list = (text ?? '').split(',').map((c) => c.trim()).filter(Boolean);
  for (const c of list) {
    try {
      parseCidr(c);
    } catch (cause) {
      throw new AirlockError('config', `Invalid CIDR "${c.slice(0, 64)}" in ${what}: use forms like 10.0.0.0/8, 192.0.2.7 or fd00::/8.`, { cause });
    }
  }
  return list;
}

function gatewayConfig(pick: (key: FileKey) => string | undefined, env: NodeJS.ProcessEnv): GatewayConfig {
  const authChains: AuthChainPolicy = {
    defaults: parseChains(pick('gateway_auth') ?? 'certificate', 'AIRLOCK_GATEWAY_AUTH'),
    users: parseChainOverrides(pick('gateway_auth_users'), 'AIRLOCK_GATEWAY_AUTH_USERS'),
    projects: parseChainOverrides(pick('gateway_auth_projects'), 'AIRLOCK_GATEWAY_AUTH_PROJECTS'),
  };
  const browserPrompt = pick('gateway_browser_prompt') ?? 'enter';
  if (browserPrompt !== 'enter' && browserPrompt !== 'none') throw new AirlockError('config', `AIRLOCK_GATEWAY_BROWSER_PROMPT must be enter or none, not "${browserPrompt.slice(0, 20)}".`);
  const loginGraceMs = parseDuration(pick('gateway_login_grace') ?? '30s', 'gateway login grace time (AIRLOCK_GATEWAY_LOGIN_GRACE)');
  if (loginGraceMs < 1000 || loginGraceMs > 600_000) throw new AirlockError('config', 'The gateway login grace time must be between 1 second and 10 minutes.');
  const exempt = cidrList(pick('gateway_penalty_exempt'), 'AIRLOCK_GATEWAY_PENALTY_EXEMPT');
  const rekeyBytes = parseByteSize(pick('gateway_rekey_bytes') ?? '1G', 'rekey limit (AIRLOCK_GATEWAY_REKEY_BYTES)');
  if (rekeyBytes < 16 * 1024) throw new AirlockError('config', 'The gateway rekey limit must be at least 16K.');
  const rekeyIntervalMs = parseDuration(pick('gateway_rekey_interval') ?? '1h', 'rekey interval (AIRLOCK_GATEWAY_REKEY_INTERVAL)');
  if (rekeyIntervalMs < 1000) throw new AirlockError('config', 'The gateway rekey interval must be at least 1 second.');
  const maxSessionMs = parseDuration(pick('gateway_max_session') ?? '12h', 'maximum session age (AIRLOCK_GATEWAY_MAX_SESSION)');
  if (maxSessionMs < 1000 || maxSessionMs > 30 * 86_400_000) throw new AirlockError('config', 'AIRLOCK_GATEWAY_MAX_SESSION must be between 1s and 30d.');
  // A revocation must end live sessions within a second (issue 10): the check runs at least twice a second by default.
  const liveCheckMs = parseDuration(pick('gateway_live_check') ?? '500ms', 'live-session check interval (AIRLOCK_GATEWAY_LIVE_CHECK)');
  if (liveCheckMs < 100 || liveCheckMs > 60_000) throw new AirlockError('config', 'AIRLOCK_GATEWAY_LIVE_CHECK must be between 100ms and 60s.');
  return {
    authMethods: firstFactors(authChains),
    authChains,
    browserPrompt,
    loginGraceMs,
    maxUnauthenticatedPerAddress: wholeNumber(pick('gateway_max_unauth_per_address') ?? '10', 'AIRLOCK_GATEWAY_MAX_UNAUTH_PER_ADDRESS', 1, 100_000),
    maxUnauthenticated: wholeNumber(pick('gateway_max_unauth') ?? '100', 'AIRLOCK_GATEWAY_MAX_UNAUTH', 1, 1_000_000),
    maxAuthTries: wholeNumber(pick('gateway_max_auth_tries') ?? '6', 'AIRLOCK_GATEWAY_MAX_AUTH_TRIES', 1, 100),
    penalties: onOff(pick('gateway_penalties') ?? 'on', 'AIRLOCK_GATEWAY_PENALTIES'),
    penaltyMaxMs: parseDuration(pick('gateway_penalty_max') ?? '10m', 'AIRLOCK_GATEWAY_PENALTY_MAX'),
    penaltyExempt: exempt,
    maxConnectionsPerUser: wholeNumber(pick('gateway_max_connections_per_user') ?? '32', 'AIRLOCK_GATEWAY_MAX_CONNECTIONS_PER_USER', 1, 100_000),
    maxConnectionsPerAddress: wholeNumber(pick('gateway_max_connections_per_address') ?? '256', 'AIRLOCK_GATEWAY_MAX_CONNECTIONS_PER_ADDRESS', 1, 1_000_000),
    maxChannelsPerUser: wholeNumber(pick('gateway_max_channels_per_user') ?? '256', 'AIRLOCK_GATEWAY_MAX_CHANNELS_PER_USER', 1, 1_000_000),
    rekeyBytes,
    rekeyIntervalMs,
    connectTimeoutMs: parseDuration(pick('gateway_connect_timeout') ?? '10s', 'AIRLOCK_GATEWAY_CONNECT_TIMEOUT'),
    // Environment only, on purpose: a switch that weakens the gateway must be explicit where it is set.
    allowLoopbackTargets: env.AIRLOCK_GATEWAY_ALLOW_LOOPBACK_TARGETS ? onOff(env.AIRLOCK_GATEWAY_ALLOW_LOOPBACK_TARGETS, 'AIRLOCK_GATEWAY_ALLOW_LOOPBACK_TARGETS') : false,
    maxSessionMs,
    liveCheckMs,
  };
}

function boundedDuration(text: string, what: string, min: number, max: number): number {
  const ms = parseDuration(text, what);
  if (ms < min || ms > max) throw new AirlockError('config', `The ${what} must be between ${min / 1000} seconds and ${max / 60_000} minutes.`);
  return ms;
}

/** `AIRLOCK_DRAIN_TIMEOUT`: 0 (close at once) up to one hour; the service manager's stop timeout must exceed it. */
function drainTimeout(text: string): number {
  const ms = parseDuration(text, 'drain timeout (AIRLOCK_DRAIN_TIMEOUT)');
  if (ms > 3_600_000) throw new AirlockError('config', 'AIRLOCK_DRAIN_TIMEOUT must be between 0s and 1h.');
  return ms;
}

/** Resolves the configuration from flags, environment, config file and defaults. */
export function loadConfig(sources: ConfigSources = {}): Config {
  const env = sources.env ?? process.env;
  const filePath = sources.configFile ?? env.AIRLOCK_CONFIG;
  const file = filePath ? readConfigFile(filePath) : {};
  const pick = (key: FileKey): string | undefined => {
    const flag = sources.flags?.[key];
    if (flag !== undefined && flag !== '') return flag;
    const fromEnv = env[`AIRLOCK_${key.toUpperCase()}`];
    if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
    return file[key];
  };
  const limitText = pick('cert_daily_limit') ?? '5';
  const certDailyLimit = Number(limitText);
  if (!Number.isInteger(certDailyLimit) || certDailyLimit < 1 || certDailyLimit > 10_000) {
    throw new AirlockError('config', `Invalid certificate daily limit "${limitText}": use a whole number from 1 to 10000.`);
  }
  const certTtlMs = parseDuration(pick('cert_ttl') ?? '24h', 'certificate TTL (AIRLOCK_CERT_TTL)');
  if (certTtlMs < 60_000 || certTtlMs > 366 * 86_400_000) {
    throw new AirlockError('config', 'The certificate TTL must be between 1 minute and 366 days.');
  }
  const databaseUrl = pick('database_url');
  if (databaseUrl !== undefined && !/^(postgres|postgresql):\/\//.test(databaseUrl) && !databaseUrl.startsWith('sqlite:')) {
    throw new AirlockError('config', 'AIRLOCK_DATABASE_URL must start with postgres:// (or be unset for SQLite in the data directory).');
  }
  return {
    dataDir: resolve(pick('data_dir') ?? './airlock-data'),
    sshListen: parseListen(pick('ssh_listen') ?? '127.0.0.1:2222', 'SSH listen address (AIRLOCK_SSH_LISTEN)'),
    httpListen: parseListen(pick('http_listen') ?? '127.0.0.1:8080', 'HTTP listen address (AIRLOCK_HTTP_LISTEN)'),
    publicUrl: pick('public_url')?.replace(/\/+$/, ''),
    databaseUrl,
    certTtlMs,
    certDailyLimit,
    hostCertTtlMs: parseDuration(pick('host_cert_ttl') ?? '30d', 'host certificate TTL'),
    sessionTtlMs: parseDuration(pick('session_ttl') ?? '12h', 'session TTL'),
    caPassphrase: env.AIRLOCK_CA_PASSPHRASE || undefined,
    issuer: pick('issuer') ?? 'Airlock',
    sshPublic: pick('ssh_public') === undefined ? undefined : parseSshPublic(pick('ssh_public')!),
    sshHostNames: pick('ssh_host_names') === undefined ? undefined : parseHostNames(pick('ssh_host_names')!),
    gateway: gatewayConfig(pick, env),
    oidc: parseOidcSettings(pick, env),
    browserLoginTtlMs: boundedDuration(pick('browser_login_ttl') ?? '5m', 'browser login lifetime (AIRLOCK_BROWSER_LOGIN_TTL)', 30_000, 30 * 60_000),
    webSessionTtlMs: boundedDuration(pick('web_session_ttl') ?? '1h', 'web session lifetime (AIRLOCK_WEB_SESSION_TTL)', 60_000, 24 * 3_600_000),
    trustedProxies: cidrList(pick('trusted_proxies'), 'AIRLOCK_TRUSTED_PROXIES'),
    metricsAllow: cidrList(pick('metrics_allow') ?? '127.0.0.0/8,::1/128', 'AIRLOCK_METRICS_ALLOW'),
    trustedProxyHeader: proxyHeader(pick('trusted_proxy_header') ?? 'x-forwarded-for'),
    browserLoginRatePerAddress: wholeNumber(pick('browser_login_rate_per_address') ?? '10', 'AIRLOCK_BROWSER_LOGIN_RATE_PER_ADDRESS', 1, 100_000),
    browserLoginRateTotal: wholeNumber(pick('browser_login_rate_total') ?? '600', 'AIRLOCK_BROWSER_LOGIN_RATE_TOTAL', 1, 1_000_000),
    drainTimeoutMs: drainTimeout(pick('drain_timeout') ?? '30s'),
    jobPorts: parseJobsConfig(pick('job_ports'), pick('job_port_quarantine')),
    jobForwarding: parseJobForwarding(pick('job_forwarding')),
  };
}
