/**
 * API token scopes and the decision "may this caller use this scope", without I/O. How tokens are
 * owned and created is explained in api-tokens.ts.
 */
import { AirlockError } from '../errors.ts';
import type { Token, User } from '../store/repositories.ts';

/** What an API token may be allowed to do. */
export const API_SCOPES = ['targets:write', 'targets:read', 'keys:read', 'jobs:write', 'jobs:read'] as const;
export type ApiScope = (typeof API_SCOPES)[number];

/** Not a PHC string, so verifyPassword() is false for every password: the account cannot sign in. */
export const SERVICE_ACCOUNT_PASSWORD_HASH = '!airlock-service-account';
/** Prefix of the scope entry that binds a token to one project (`project:<project id>`). */
export const PROJECT_SCOPE_PREFIX = 'project:';
/** The longest an API token may live; orchestrator tokens are rotated, not kept forever. */
export const MAX_API_TOKEN_TTL_MS = 366 * 86_400_000;
/** Lifetime when the operator gives none. */
export const DEFAULT_API_TOKEN_TTL_MS = 90 * 86_400_000;

/** Whether a user is a service account (owner of API tokens) rather than a person. */
export function isServiceAccount(user: Pick<User, 'passwordHash'>): boolean {
  return user.passwordHash === SERVICE_ACCOUNT_PASSWORD_HASH;
}

/** Whether a string is a known scope. */
export function isApiScope(s: string): s is ApiScope {
  return (API_SCOPES as readonly string[]).includes(s);
}

/** Parses scopes given as repeated and/or comma-separated values; at least one, no unknown ones. */
export function parseScopes(values: readonly string[]): ApiScope[] {
  const scopes = values.flatMap((v) => v.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  if (scopes.length === 0) throw new AirlockError('bad_request', `Give at least one scope: ${API_SCOPES.join(', ')}.`);
  for (const s of scopes) {
    if (!isApiScope(s)) throw new AirlockError('bad_request', `"${s.slice(0, 32)}" is not a scope: use ${API_SCOPES.join(', ')}.`);
  }
  return [...new Set(scopes as ApiScope[])];
}

/** The scopes a token grants (empty for a session token). */
export function tokenScopes(token: Pick<Token, 'kind' | 'scopes'>): ApiScope[] {
  return token.kind === 'api' ? token.scopes.filter(isApiScope) : [];
}

/** The project an API token is limited to, or null when it is not limited. */
export function tokenProjectId(token: Pick<Token, 'kind' | 'scopes'>): string | null {
  if (token.kind !== 'api') return null;
  const entry = token.scopes.find((s) => s.startsWith(PROJECT_SCOPE_PREFIX));
  return entry === undefined ? null : entry.slice(PROJECT_SCOPE_PREFIX.length);
}

/** A caller of the API: the user behind the bearer token, and the token. */
export interface ApiCaller {
  user: User;
  token: Pick<Token, 'id' | 'kind' | 'scopes'>;
}

/**
 * Decides whether a caller may use `scope`: an API token needs the scope; a session needs an
 * operator account (the web app's operator pages act with the operator's session). Returns the
 * project the call is limited to (null = any). Throws forbidden with a message naming the scope.
 */
export function authorizeScope(caller: ApiCaller, scope: ApiScope): { projectId: string | null } {
  if (caller.token.kind === 'api') {
    if (!tokenScopes(caller.token).includes(scope)) {
      throw new AirlockError('forbidden', `This API token lacks the scope "${scope}"; create a token with --scope ${scope} (airlock admin token create).`, { details: { required_scope: scope } });
    }
    return { projectId: tokenProjectId(caller.token) };
  }
  if (!caller.user.isAdmin) {
    throw new AirlockError('forbidden', `This needs the scope "${scope}": use an API token that has it, or an operator's session.`, { details: { required_scope: scope } });
  }
  return { projectId: null };
}
