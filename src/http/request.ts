/**
 * Reading requests: the client's address as the socket saw it, and JSON bodies with typed, bounded
 * fields. Every route uses these, so that a malformed body always gets the same clear 400.
 */
import type { Context } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import { AirlockError } from '../errors.ts';

/** The client's address as the socket saw it (never a forwarded header: those are client-controlled). */
export function clientAddress(c: Context): string | null {
  try {
    return getConnInfo(c).remote.address ?? null;
  } catch {
    return null; // app.request() in tests has no socket
  }
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
