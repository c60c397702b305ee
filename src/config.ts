/**
 * Service configuration: flags, then environment variables, then an optional JSON config file, then
 * defaults — in that order of precedence (PRODUCT.md). Secrets (the CA passphrase) come only from the
 * environment, never from flags, so they do not show up in `ps`.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { AirlockError } from './errors.ts';
import { parseDuration } from './duration.ts';

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
}

/** The keys accepted in a config file, in env-variable form without the `AIRLOCK_` prefix, lower case. */
const FILE_KEYS = [
  'data_dir', 'ssh_listen', 'http_listen', 'public_url', 'database_url', 'cert_ttl', 'cert_daily_limit',
  'host_cert_ttl', 'session_ttl', 'issuer',
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
  };
}
