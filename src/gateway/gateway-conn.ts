/**
 * One gateway connection's state and the context the gateway's parts share (gateway.ts wires them):
 * the door (gateway-door.ts), the authentication flow (gateway-auth-flow.ts), rekeying
 * (gateway-rekey.ts), forward channels (forward-channel.ts) and lobby sessions (lobby-session.ts).
 */
import type { Socket } from 'node:net';
import type { Connection } from 'ssh2';
import type { Auditor, AuditInput } from '../audit/auditor.ts';
import type { CertificateAuthority } from '../ca/authority.ts';
import type { Clock } from '../clock.ts';
import type { GatewayConfig } from '../config.ts';
import type { InventoryPort, KeyRegistryPort } from '../inventory/ports.ts';
import type { BrowserLogins } from '../identity/browser-login.ts';
import type { Logger } from '../log.ts';
import type { JobForwarding } from '../jobs/job.ts';
import type { OwnListener } from '../policy/forward.ts';
import type { PublicKey } from '../ssh/keys.ts';
import type { Store } from '../store/repositories.ts';
import type { GatewayIdentity } from './auth.ts';
import type { BrowserAuthConnection, CertificateIssuer } from './browser-login.ts';
import type { ConnectionRelays } from './channel-relay.ts';
import type { Resolver } from './dialer.ts';
import type { HostKey } from './host-key.ts';
import type { LiveConnection } from './live-registry.ts';
import type { ConnectionHooks } from './ssh2-internals.ts';
import type { Ssh2HostKeyProvider } from './ssh2-extensions.ts';

export interface GatewayDeps {
  config: GatewayConfig;
  listen: { host: string; port: number };
  /** The address users are told to connect to; a missing port means the listener's. */
  publicAddress?: { host: string; port: number | undefined } | undefined;
  hostKey: HostKey;
  /** The host certificate (host-certificate.ts), offered next to the plain key. */
  hostCertificate?: { readonly ssh2HostKey: Ssh2HostKeyProvider } | undefined;
  userCaKey: PublicKey;
  store: Store;
  audit: Auditor;
  clock: Clock;
  inventory?: InventoryPort | undefined;
  keys?: KeyRegistryPort | undefined;
  /** The process's other listeners (HTTP), which forwarding must never reach. */
  otherListeners?: () => OwnListener[];
  resolve?: Resolver;
  /** Operational log (not audit). */
  logger?: Logger;
  /** Browser login (keyboard-interactive) and the `cert` command; absent = certificates and keys only. */
  browserLogin?: { logins: BrowserLogins; ca?: CertificateIssuer } | undefined;
  /** Load balancers (CIDRs, `AIRLOCK_TRUSTED_PROXIES`) that must, and alone may, send a PROXY protocol header. */
  trustedProxies?: readonly string[] | undefined;
  /** Per-job endpoints (job-listeners.ts, job-connections.ts); absent = no job ports. */
  jobs?: {
    ca: Pick<CertificateAuthority, 'issueSessionCertificate' | 'hostCaKey'>;
    /** How often the job listeners are reconciled with the database (default 500 ms). */
    reconcileMs?: number | undefined;
    /** The gateway's address towards jobs; a route lookup when absent. */
    sourceAddress?: string | undefined;
    /** What the operator lets jobs allow (`AIRLOCK_JOB_FORWARDING`): a job's own list counts only within it. */
    forwarding?: readonly JobForwarding[] | undefined;
  } | undefined;
}

/** One TCP connection's state; kept small, there may be tens of thousands. */
export interface Conn {
  socket: Socket;
  /** Canonical client address: the socket's peer, or what a trusted proxy's PROXY header says. */
  address: string;
  /** The client's port (from the PROXY header when there is one). */
  port: number;
  /** When the connection was admitted: penalties grow with the time held unauthenticated (not while a real user signs in in the browser). */
  since: number;
  /** Releases the authenticated connection's place in the per-user and per-address limits. */
  sessionRelease: (() => void) | null;
  /** Pre-auth limiter source, until released. */
  source: string | null;
  client: Connection | null;
  hooks: ConnectionHooks | null;
  identity: GatewayIdentity | null;
  failures: number;
  penalised: boolean;
  graceTimer: NodeJS.Timeout | null;
  rekeyTimer: NodeJS.Timeout | null;
  rekeyAtBytes: number;
  rekeying: boolean;
  channels: number;
  sessions: number;
  /** Browser-login state of this connection, created at its first keyboard-interactive or partial success. */
  browser: BrowserAuthConnection | null;
  /** The client→target data path, from authentication on (channel-relay.ts). */
  relays: ConnectionRelays | null;
  /** The software part of the client's identification string (`OpenSSH_9.2p1`, `PuTTY_Release_0.78`), for the lobby. */
  software?: string;
  /** The connection's entry in the live-connection registry (live-registry.ts), once authenticated. */
  live?: LiveConnection;
  /** The job whose port the connection came in on (job-listeners.ts); absent on the main port. */
  jobId?: string;
}

/** What ssh2 passes with a new connection: the peer, and its identification string once read. */
export interface SshConnectionInfo {
  ip: string;
  port: number;
  header?: { versions?: { software?: string } };
}

/** Counters the parts update and `stats()` reports. */
export interface GatewayCounters {
  logins: number;
  rekeys: number;
  channels: number;
  hooksAvailable: boolean | null;
}

/** What every part of the gateway may use: its dependencies, the audit trail and the operational log. */
export interface GatewayContext {
  readonly deps: GatewayDeps;
  readonly cfg: GatewayConfig;
  readonly counters: GatewayCounters;
  /** Records an audit event off the hot path; a failure is logged (auth paths await their own records). */
  audit(event: AuditInput): void;
  log(level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown>): void;
  /** Audits a refused request (channel type, global request, session request). */
  refused(conn: Conn, request: string, details: Record<string, unknown>): void;
  /** Audit records still being written: close() waits for them, so a shutdown loses none. */
  readonly auditsInFlight: Set<Promise<void>>;
  /** Woken when the last connection has closed (drain) and when the last forward channel has finished (close). */
  readonly waiters: { idle: (() => void)[]; channels: (() => void)[] };
}

/** Builds the shared context from the gateway's dependencies. */
export function gatewayContext(deps: GatewayDeps, logger: Logger, component = 'gateway'): GatewayContext {
  const log = (level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown>): void => {
    const f = { component, ...fields };
    if (level === 'error') logger.error(msg, undefined, f);
    else logger[level](msg, f);
  };
  const auditsInFlight = new Set<Promise<void>>();
  const audit = (event: AuditInput): void => {
    const p = deps.audit.record(event).catch((err: unknown) => log('error', 'audit record failed', { error: (err as Error).message, type: event.type }));
    auditsInFlight.add(p);
    void p.finally(() => auditsInFlight.delete(p));
  };
  return {
    deps, cfg: deps.config, counters: { logins: 0, rekeys: 0, channels: 0, hooksAvailable: null }, audit, log, auditsInFlight, waiters: { idle: [], channels: [] },
    refused: (conn, request, details) => audit({ type: 'gateway.refused', outcome: 'denied', actor: conn.identity?.user.name ?? null, clientAddress: conn.address, details: { request, ...details } }),
  };
}

export const noop = (): void => {};
