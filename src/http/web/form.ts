/**
 * Reading an HTML form POST, bounded: every field a string of at most `maxField` characters (a file
 * field, such as a key upload, read as text when no larger), anything else dropped. A body that is
 * not a form is a 400. CSRF is checked by the caller (web-security.ts).
 */
import type { Context } from 'hono';
import { AirlockError } from '../../errors.ts';

/** The form's fields; longer values and larger files are left out rather than trusted. */
export async function readForm(c: Context, maxField: number): Promise<Record<string, string>> {
  let body: Record<string, unknown>;
  try {
    body = await c.req.parseBody();
  } catch {
    throw new AirlockError('bad_request', 'The form could not be read.');
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(body)) {
    if (typeof v === 'string' && v.length <= maxField) out[k] = v;
    else if (v instanceof File && v.size <= maxField) out[k] = await v.text();
  }
  return out;
}
