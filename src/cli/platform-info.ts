/**
 * What the researcher commands read from the Airlock server: the gateway's endpoint and host key
 * (`GET /api/v1/gateway`), the host CA (`GET /api/v1/ca`), and the signed-in user's targets with
 * their services (`GET /api/v1/targets`). Shapes are checked here, once; the generators check values.
 */
import { AirlockError } from '../errors.ts';
import { apiRequest } from './api-client.ts';
import type { ClientSession } from './client-state.ts';
import { parsePublicKey } from '../ssh/keys.ts';
import { isSafeHost } from './ssh-config.ts';

export interface GatewayInfo {
  host: string;
  port: number;
  /** `ssh-ed25519 AAAA…`. */
  hostKey: string;
  /** `SHA256:…`. */
  fingerprint: string;
  randomart: string | null;
}

export interface ServiceInfo {
  name: string;
  port: number;
  path: string | null;
  token: string | null;
}

export interface TargetInfo {
  name: string;
  project: string;
  host: string;
  port: number;
  address: string;
  login_user: string | null;
  services: ServiceInfo[];
  expires_at: string | null;
}

const bad = (what: string): AirlockError => new AirlockError('unavailable', `The Airlock server sent an unexpected ${what}; is the CLI much older or newer than the server?`);

const str = (v: unknown): v is string => typeof v === 'string';
const strOrNull = (v: unknown): v is string | null => v === null || typeof v === 'string';
const int = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

/** The gateway's endpoint and host key; `unavailable` when the server runs no gateway. */
export async function fetchGatewayInfo(server: string): Promise<GatewayInfo> {
  const g = await apiRequest<Record<string, unknown>>({ server, timeoutMs: 15_000 }, 'GET', '/api/v1/gateway');
  if (g.host === null || g.port === null) throw new AirlockError('unavailable', 'The Airlock server does not publish a gateway address; ask your operator to set AIRLOCK_SSH_PUBLIC.');
  if (!str(g.host) || !int(g.port) || !str(g.host_key) || !str(g.fingerprint)) throw bad('gateway description');
  // These values end up in ssh and PuTTY configuration files: anything odd is refused, never escaped.
  if (!isSafeHost(g.host) || g.port < 1 || g.port > 65535 || !/^SHA256:[A-Za-z0-9+/]{43}$/.test(g.fingerprint)) throw bad('gateway address or fingerprint');
  try {
    parsePublicKey(g.host_key);
  } catch {
    throw bad('gateway host key');
  }
  return { host: g.host, port: g.port, hostKey: g.host_key, fingerprint: g.fingerprint, randomart: str(g.randomart) ? g.randomart : null };
}

/** The user and host CA public keys. */
export async function fetchCaKeys(server: string): Promise<{ userCa: string; hostCa: string }> {
  const c = await apiRequest<Record<string, unknown>>({ server, timeoutMs: 15_000 }, 'GET', '/api/v1/ca');
  if (!str(c.user_ca) || !str(c.host_ca)) throw bad('CA description');
  try {
    parsePublicKey(c.user_ca);
    parsePublicKey(c.host_ca);
  } catch {
    throw bad('CA key');
  }
  return { userCa: c.user_ca, hostCa: c.host_ca };
}

function service(v: unknown): ServiceInfo {
  const s = v as Record<string, unknown>;
  if (typeof v !== 'object' || v === null || !str(s.name) || !int(s.port) || !strOrNull(s.path ?? null) || !strOrNull(s.token ?? null)) throw bad('service');
  return { name: s.name, port: s.port, path: (s.path as string | null | undefined) ?? null, token: (s.token as string | null | undefined) ?? null };
}

/** The signed-in user's reachable targets. */
export async function fetchTargets(session: Pick<ClientSession, 'server' | 'token'>): Promise<TargetInfo[]> {
  const r = await apiRequest<{ targets?: unknown }>({ server: session.server, token: session.token, timeoutMs: 15_000 }, 'GET', '/api/v1/targets');
  if (!Array.isArray(r.targets)) throw bad('target list');
  return r.targets.map((v: unknown) => {
    const t = v as Record<string, unknown>;
    if (typeof v !== 'object' || v === null || !str(t.name) || !str(t.host) || !int(t.port) || !strOrNull(t.login_user) || !Array.isArray(t.services)) throw bad('target');
    return {
      name: t.name,
      project: str(t.project) ? t.project : '',
      host: t.host,
      port: t.port,
      address: str(t.address) ? t.address : `${t.host}:${t.port}`,
      login_user: t.login_user,
      services: t.services.map(service),
      expires_at: str(t.expires_at) ? t.expires_at : null,
    };
  });
}

/** The local URL of a tunnelled service: path and token when the service has them (Jupyter), else null. */
export function serviceUrl(localPort: number, s: Pick<ServiceInfo, 'path' | 'token'>): string | null {
  if (s.path === null && s.token === null) return null;
  const path = s.path === null ? '/' : s.path.startsWith('/') ? s.path : `/${s.path}`;
  const query = s.token === null ? '' : `${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(s.token)}`;
  return `http://127.0.0.1:${localPort}${path}${query}`;
}

/** The local port a tunnel to `port` tries first: the same number unless it is privileged (as the lobby suggests). */
export function preferredLocalPort(port: number): number {
  return port >= 1024 ? port : port + 10000 > 65535 ? port : port + 10000;
}
