/**
 * `GET /api/v1/gateway`: the gateway's trust material — SSH endpoint, host key, SHA256 fingerprint,
 * randomart and a known_hosts line — so that users can check the fingerprint on first connection (or
 * skip trust-on-first-use with the known_hosts line). Public: it is what the server shows anyway.
 */
import { Hono } from 'hono';
import { AirlockError } from '../errors.ts';
import { gatewayTrustJson, type GatewayTrust } from '../gateway/host-key.ts';

/** The gateway routes; `trust` returns null when the gateway is not running in this process. */
export function gatewayRoutes(trust: () => GatewayTrust | null): Hono {
  const app = new Hono();
  app.get('/api/v1/gateway', (c) => {
    const t = trust();
    if (t === null) throw new AirlockError('unavailable', 'The SSH gateway is not running in this service.');
    return c.json(gatewayTrustJson(t));
  });
  return app;
}
