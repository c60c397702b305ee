/**
 * Reading requests: the client's address (the socket's peer, or what a trusted proxy says it saw), and
 * JSON bodies with typed, bounded fields. Every route uses these, so that a malformed body always gets
 * the same clear 400 and every consumer (throttle, audit, ledger, approval page, rate limits) sees one
 * and the same address.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import { parseDuration } from '../duration.ts';
import { AirlockError } from '../errors.ts';
import { resolveClientAddress, type TrustedProxies } from './forwarded.ts';

// Resolved once per request by the middleware below. Keyed by the Context, which sub-apps share; not by
// c.req.raw, which the body limit replaces for a chunked body (a lookup would then silently miss).
const resolved = new WeakMap<Context, string | null>();

function peerAddress(c: Context): string | null {
  try {
    return getConnInfo(c).remote.address ?? null;
  } catch {
    return null; // app.request() in tests has no socket
  }
}

/**
 * Middleware that resolves the client's address once per request: the socket's peer, or — only when
 * that peer is one of the trusted proxies — the address its forwarded header names (forwarded.ts).
 */
export function resolveClientAddressMiddleware(trust: TrustedProxies): MiddlewareHandler {
  return async (c, next) => {
    resolved.set(c, resolveClientAddress(peerAddress(c), c.req.header(trust.header), trust));
    await next();
  };
}

/**
 * The client's address in canonical form, as resolved by the middleware. Without the middleware, the
 * socket's peer: a forwarded header is client-controlled and is never read here.
 */
export function clientAddress(c: Context): string | null {
  if (resolved.has(c)) return resolved.get(c) ?? null;
  return resolveClientAddress(peerAddress(c), undefined, { cidrs: [], header: 'x-forwarded-for' });
}

/** The request body as a JSON object; 400 otherwise. */
export async function jsonBody(c: Context): Promise<Record<string, unknown>> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw new AirlockError('bad_request', 'The request body must be JSON.');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new AirlockError('bad_request', 'The request body must be a JSON object.');
  return body as Record<string, unknown>;
}

/** A string field that may be absent; when present it must be non-empty and at most `max` characters. */
export function optionalString(body: Record<string, unknown>, name: string, max = 1024): string | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > max) throw new AirlockError('bad_request', `The field "${name}" must be a non-empty string of at most ${max} characters.`);
  // No text field has a use for NUL, and PostgreSQL refuses it in text columns (an error, i.e. a 500).
  if (v.includes('\0')) throw new AirlockError('bad_request', `The field "${name}" must not contain NUL characters.`);
  return v;
}

/** A required, non-empty string field of at most `max` characters. */
export function requiredString(body: Record<string, unknown>, name: string, max = 1024): string {
  const v = optionalString(body, name, max);
  if (v === undefined) throw new AirlockError('bad_request', `The field "${name}" is required.`);
  return v;
}

/** A list field (absent = empty) of at most `maxItems` entries. */
export function optionalArray(body: Record<string, unknown>, name: string, maxItems = 64): unknown[] {
  const v = body[name];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.length > maxItems) throw new AirlockError('bad_request', `The field "${name}" must be a list of at most ${maxItems} entries.`);
  return v;
}

/** `expires_in` (a duration such as "8h", or seconds) or `expires_at` (ISO 8601), or neither. */
export function optionalExpiry(body: Record<string, unknown>, now: number): number | null {
  const inValue = body.expires_in;
  const atValue = body.expires_at;
  if (inValue != null && atValue != null) throw new AirlockError('bad_request', 'Give "expires_in" or "expires_at", not both.');
  if (inValue != null) {
    if (typeof inValue === 'number') {
      if (!Number.isSafeInteger(inValue) || inValue <= 0) throw new AirlockError('bad_request', 'The field "expires_in" must be a positive number of seconds or a duration like "8h".');
      return now + inValue * 1000;
    }
    if (typeof inValue !== 'string') throw new AirlockError('bad_request', 'The field "expires_in" must be a duration like "8h" or a number of seconds.');
    return now + parseDuration(inValue, '"expires_in"');
  }
  if (atValue != null) {
    const at = typeof atValue === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(atValue) ? Date.parse(atValue) : NaN;
    if (!Number.isFinite(at)) throw new AirlockError('bad_request', 'The field "expires_at" must be an ISO 8601 time, e.g. 2026-12-31T18:00:00Z.');
    return at;
  }
  return null;
}
