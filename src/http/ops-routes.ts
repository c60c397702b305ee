/**
 * Operations endpoints: `/healthz` (the process answers), `/readyz` (it should get traffic: database
 * reachable, CA keys loaded, SSH listener up, not draining) for load balancers and Kubernetes, and
 * `/metrics` in Prometheus text format for the addresses the operator allows (it tells an outsider
 * how busy the gateway is and how logins fail, so it is not public by default).
 */
import type { Context, Env as HonoEnv, Hono, MiddlewareHandler, Next } from 'hono';
import { routePath } from 'hono/route';
import type { ServiceMetrics } from '../ops/metrics.ts';
import { clientAddress } from './request.ts';

/** One readiness check's result. */
export interface ReadinessCheck {
  ok: boolean;
  message?: string;
}

export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, ReadinessCheck>;
}

export interface OpsDeps {
  metrics?: ServiceMetrics | undefined;
  /** Whether a client address may read `/metrics`. */
  metricsAllowed?: ((address: string | null) => boolean) | undefined;
  /** The readiness checks; absent = always ready (an API-only app in tests). */
  readiness?: (() => Promise<ReadinessReport>) | undefined;
}

/** Adds the operations routes to `app`. */
export function opsRoutes<E extends HonoEnv>(app: Hono<E>, deps: OpsDeps): void {
  app.get('/healthz', (c) => c.json({ ok: true }));
  app.get('/readyz', async (c) => {
    const report = deps.readiness ? await deps.readiness() : { ready: true, checks: {} };
    c.header('Cache-Control', 'no-store');
    return c.json(report, report.ready ? 200 : 503);
  });
  app.get('/metrics', async (c) => {
    if (deps.metrics === undefined) return c.json({ error: { code: 'not_found', message: 'Metrics are not enabled in this process.' } }, 404);
    if (!(deps.metricsAllowed?.(clientAddress(c)) ?? false)) {
      return c.json({ error: { code: 'forbidden', message: 'Metrics are served only to the addresses in AIRLOCK_METRICS_ALLOW.' } }, 403);
    }
    const { contentType, text } = await deps.metrics.exposition();
    return c.body(text, 200, { 'Content-Type': contentType, 'Cache-Control': 'no-store' });
  });
}

/** Counts every request by method, matched route pattern and status, with its latency. */
export function httpMetrics(metrics: ServiceMetrics): MiddlewareHandler {
  return async (c: Context, next: Next) => {
    const start = performance.now();
    try {
      await next();
    } finally {
      let route = routePath(c, -1);
      // A request no route answered ends at a wildcard middleware: one series for all of them.
      if (c.res.status === 404 && (route === '*' || route.endsWith('/*'))) route = 'unmatched';
      metrics.httpRequest(c.req.method, route, c.res.status, (performance.now() - start) / 1000);
    }
  };
}
