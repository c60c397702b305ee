/**
 * The caller of the inventory and job APIs: a bearer token (a person's session or an orchestrator's
 * API token) resolved to its user and token, and who acts for the audit log. One middleware for every
 * route family, so that token checks and last-use bookkeeping cannot drift apart.
 */
import type { Context } from 'hono';
import type { SessionTokens } from '../identity/session-tokens.ts';
import type { ApiCaller } from '../inventory/api-scopes.ts';
import type { Actor } from '../inventory/ports.ts';
import { clientAddress } from './request.ts';

/** The Hono environment of routes behind `authenticateCaller`. */
export type CallerEnv = { Variables: { caller: ApiCaller } };

/** Resolves `Authorization: Bearer …` to the caller (401 through the token service otherwise). */
export function authenticateCaller(deps: { tokens: SessionTokens }) {
  return async (c: Context<CallerEnv>, next: () => Promise<void>): Promise<void> => {
    const header = c.req.header('authorization');
    const bearer = header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    const { user, token } = await deps.tokens.authenticate(bearer);
    c.set('caller', { user, token });
    await deps.tokens.noteUse(token);
    await next();
  };
}

/** Who acts, for the audit log and the services. */
export function callerActor(c: Context<CallerEnv>): Actor {
  return { name: c.get('caller').user.name, clientAddress: clientAddress(c) };
}
