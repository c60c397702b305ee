/**
 * Prometheus metrics for `airlock serve` (prom-client), served at `/metrics`.
 *
 * Where the numbers come from: the counters of authentications, channels, relayed bytes and
 * certificates are derived from the audit events (`observeAudit`), which every component already
 * records for each decision — so a metric can never disagree with the audit log, and no component
 * carries metric code of its own. Gauges of what is open now (connections, channels, database pool) are
 * read from their owners at scrape time. HTTP requests are counted by a middleware, by route pattern
 * (never the raw path, which would let a client create series at will).
 *
 * Label values that come from events are bounded: a value outside the known set becomes "other".
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AuditEvent } from '../store/repositories.ts';

/** What the gateway reports about itself (gateway.ts `stats()`), read at scrape time. */
export interface GatewayGauges {
  authenticated: number;
  unauthenticated: number;
  channels: number;
  refused: number;
}

/** A database connection pool's use (PostgreSQL); null for SQLite. */
export interface PoolGauges {
  total: number;
  idle: number;
  waiting: number;
}

export interface MetricsSources {
  gateway?: () => GatewayGauges | null;
  pool?: () => PoolGauges | null;
}

const AUTH_METHODS = new Set(['certificate', 'publickey', 'browser', 'certificate+browser', 'publickey+browser', 'password', 'keyboard-interactive', 'hostbased', 'password+totp', 'oidc', 'device', 'recovery_code']);
const OUTCOMES = new Set(['success', 'failure', 'denied']);
/** Reasons are stable codes chosen by Airlock; anything longer or odd is folded into "other". */
const REASON = /^[a-z][a-z0-9_.-]{0,47}$/;

function bounded(value: unknown, known?: Set<string>): string {
  if (typeof value !== 'string' || value === '') return 'none';
  if (known !== undefined) return known.has(value) ? value : 'other';
  return REASON.test(value) ? value : 'other';
}

/** The service's metrics: one registry per process (several servers in one test process stay apart). */
export class ServiceMetrics {
  readonly registry = new Registry();
  readonly #auth: Counter<'service' | 'method' | 'outcome'>;
  readonly #channels: Counter<'type' | 'outcome' | 'reason'>;
  readonly #bytes: Counter<'direction'>;
  readonly #certs: Counter<'kind' | 'outcome' | 'reason'>;
  readonly #revocations: Counter<'kind'>;
  readonly #http: Counter<'method' | 'route' | 'status'>;
  readonly #httpSeconds: Histogram<'method' | 'route'>;

  constructor(sources: MetricsSources = {}) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'airlock_' });
    this.#auth = new Counter({ name: 'airlock_authentications_total', help: 'Authentication decisions, by service (ssh, http), method and outcome.', labelNames: ['service', 'method', 'outcome'], registers });
    this.#channels = new Counter({ name: 'airlock_gateway_channels_total', help: 'Gateway channels and requests, counted when they end or are refused, by type, outcome and refusal reason.', labelNames: ['type', 'outcome', 'reason'], registers });
    this.#bytes = new Counter({ name: 'airlock_gateway_relayed_bytes_total', help: 'Bytes relayed through forwarding channels (to_target: from the client), counted when a channel ends.', labelNames: ['direction'], registers });
    this.#certs = new Counter({ name: 'airlock_certificates_total', help: 'Certificate requests, by kind (user, host), outcome and refusal reason.', labelNames: ['kind', 'outcome', 'reason'], registers });
    this.#revocations = new Counter({ name: 'airlock_certificate_revocations_total', help: 'Revocation actions (one serial, or all of a user\'s).', labelNames: ['kind'], registers });
    this.#http = new Counter({ name: 'airlock_http_requests_total', help: 'HTTP requests, by method, route pattern and status.', labelNames: ['method', 'route', 'status'], registers });
    this.#httpSeconds = new Histogram({ name: 'airlock_http_request_duration_seconds', help: 'HTTP request latency, by method and route pattern.', labelNames: ['method', 'route'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers });

    const gateway = sources.gateway;
    new Gauge({
      name: 'airlock_gateway_connections', help: 'Open gateway connections, by listener and state.', labelNames: ['listener', 'state'], registers,
      collect() {
        const s = gateway?.();
        if (!s) return;
        this.set({ listener: 'main', state: 'authenticated' }, s.authenticated);
        this.set({ listener: 'main', state: 'unauthenticated' }, s.unauthenticated);
      },
    });
    new Gauge({
      name: 'airlock_gateway_open_channels', help: 'Forwarding channels open now.', registers,
      collect() {
        const s = gateway?.();
        if (s) this.set(s.channels);
      },
    });
    let refusedSeen = 0;
    new Counter({
      name: 'airlock_gateway_preauth_refused_total', help: 'Connections refused by the pre-authentication limits before any SSH byte.', registers,
      collect() {
        const s = gateway?.();
        // The gateway keeps the running total; a counter only moves forward.
        if (s && s.refused > refusedSeen) {
          this.inc(s.refused - refusedSeen);
          refusedSeen = s.refused;
        }
      },
    });
    const pool = sources.pool;
    new Gauge({
      name: 'airlock_db_pool_connections', help: 'Database pool connections (PostgreSQL), by state: total, idle, and clients waiting for one.', labelNames: ['state'], registers,
      collect() {
        const p = pool?.();
        if (!p) return;
        this.set({ state: 'total' }, p.total);
        this.set({ state: 'idle' }, p.idle);
        this.set({ state: 'waiting' }, p.waiting);
      },
    });
  }

  /** Counts what an audit event says happened (wired as the auditor's observer). */
  observeAudit(event: AuditEvent): void {
    const d = event.details;
    const outcome = bounded(event.outcome, OUTCOMES);
    switch (event.type) {
      case 'gateway.auth':
        // A first factor that only led on to the browser step is not a login yet.
        if (d.partial === true) return;
        this.#auth.inc({ service: 'ssh', method: bounded(d.method, AUTH_METHODS), outcome });
        return;
      case 'auth.password_totp':
        this.#auth.inc({ service: 'http', method: 'password+totp', outcome });
        return;
      case 'auth.oidc':
        this.#auth.inc({ service: 'http', method: 'oidc', outcome });
        return;
      case 'auth.device_login':
        this.#auth.inc({ service: 'http', method: 'device', outcome });
        return;
      case 'gateway.channel':
        this.#channels.inc({ type: bounded(d.channel), outcome, reason: outcome === 'success' ? 'none' : bounded(d.reason) });
        if (typeof d.bytes_in === 'number') this.#bytes.inc({ direction: 'to_target' }, d.bytes_in);
        if (typeof d.bytes_out === 'number') this.#bytes.inc({ direction: 'to_client' }, d.bytes_out);
        return;
      case 'gateway.refused':
        this.#channels.inc({ type: bounded(d.request), outcome: 'denied', reason: 'not_allowed' });
        return;
      case 'cert.issue':
        this.#certs.inc({ kind: 'user', outcome, reason: outcome === 'success' ? 'none' : bounded(d.reason) });
        return;
      case 'cert.issue_host':
        this.#certs.inc({ kind: 'host', outcome, reason: outcome === 'success' ? 'none' : bounded(d.reason) });
        return;
      case 'cert.revoke':
        this.#revocations.inc({ kind: 'serial' });
        return;
      case 'cert.revoke_all':
        this.#revocations.inc({ kind: 'user' });
        return;
      default:
    }
  }

  /** Counts one HTTP request; `route` is the matched route pattern. */
  httpRequest(method: string, route: string, status: number, seconds: number): void {
    const m = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'].includes(method) ? method : 'other';
    this.#http.inc({ method: m, route, status: String(status) });
    this.#httpSeconds.observe({ method: m, route }, seconds);
  }

  /** The exposition text and its content type. */
  async exposition(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}
