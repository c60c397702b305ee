/**
 * Scoped API tokens for orchestrators (an OpenStack, Slurm or Kubernetes hook).
 *
 * Ownership: every token row belongs to a user (tokens.user_id is NOT NULL and cascades), so an API
 * token belongs to a *service account*: a user row that the operator names (`--name openstack`),
 * created on first use, whose password hash is a marker that no password can ever match and that has
 * no TOTP secret, so it can never sign in, get a session or a certificate. This keeps one token table
 * and one revocation path (`airlock admin token revoke --name N` or `airlock admin user disable N`),
 * and gives the audit log a stable actor name per orchestrator. A nullable owner was the alternative;
 * it would have needed a rebuilt tokens table on SQLite and a second kind of principal everywhere.
 *
 * Scopes are stored in the token's scope list; a project restriction is stored there too, as
 * `project:<project id>` (the id, so that a project created later under the same name would not
 * inherit the token).
 */
import type { Auditor } from '../audit/auditor.ts';
import { AirlockError } from '../errors.ts';
import { checkUserName } from '../identity/enrolment.ts';
import type { SessionTokens } from '../identity/session-tokens.ts';
import type { Store, Token, User } from '../store/repositories.ts';
import type { Actor, Project } from './ports.ts';

/** What an API token may be allowed to do. */
export const API_SCOPES = ['targets:write', 'targets:read', 'keys:read'] as const;
export type ApiScope = (typeof API_SCOPES)[number];

/** Not a PHC string, so verifyPassword() is false for every password: the account cannot sign in. */
export const SERVICE_ACCOUNT_PASSWORD_HASH = '!airlock-service-account';
const PROJECT_SCOPE_PREFIX = 'project:';
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

/** What `create` hands back; `token` is the secret, shown once. */
export interface CreatedApiToken {
  token: string;
  record: Token;
  account: User;
  createdAccount: boolean;
  project: Project | null;
  scopes: ApiScope[];
}

/** Creating and revoking orchestrators' API tokens. */
export class ApiTokens {
  readonly #store: Store;
  readonly #tokens: SessionTokens;
  readonly #audit: Auditor;
  readonly #now: () => number;

  constructor(deps: { store: Store; tokens: SessionTokens; audit: Auditor; clock: { now(): number } }) {
    this.#store = deps.store;
    this.#tokens = deps.tokens;
    this.#audit = deps.audit;
    this.#now = () => deps.clock.now();
  }

  /** Creates a token for the named service account (created if new), with scopes, optional project and lifetime. */
  async create(input: { account: string; scopes: ApiScope[]; projectName: string | null; ttlMs: number }, actor: Actor): Promise<CreatedApiToken> {
    checkUserName(input.account);
    const scopes = parseScopes(input.scopes);
    if (!Number.isSafeInteger(input.ttlMs) || input.ttlMs <= 0 || input.ttlMs > MAX_API_TOKEN_TTL_MS) {
      throw new AirlockError('bad_request', 'An API token lives at least one second and at most 366 days; rotate longer-lived ones.');
    }
    let project: Project | null = null;
    if (input.projectName !== null) {
      project = (await this.#store.projects.byName(input.projectName)) ?? null;
      if (project === null) throw new AirlockError('not_found', `No project named "${input.projectName.slice(0, 64)}"; see airlock admin project list.`);
    }
    const { account, created } = await this.#serviceAccount(input.account);
    const stored = project === null ? [...scopes] : [...scopes, `${PROJECT_SCOPE_PREFIX}${project.id}`];
    const { token, record } = await this.#tokens.issue(account, { kind: 'api', ttlMs: input.ttlMs, scopes: stored });
    await this.#audit.record({
      type: 'inventory.token_create', outcome: 'success', actor: actor.name, clientAddress: actor.clientAddress,
      details: { account: account.name, token_id: record.id, scopes, project: project?.name ?? null, expires_at: new Date(record.expiresAt).toISOString(), created_account: created },
    });
    return { token, record, account, createdAccount: created, project, scopes };
  }

  /** Revokes every token of a service account; returns how many there were. */
  async revokeAll(accountName: string, actor: Actor): Promise<number> {
    const account = await this.#store.users.byName(accountName);
    if (account === undefined || !isServiceAccount(account)) {
      throw new AirlockError('not_found', `No service account named "${accountName.slice(0, 64)}".`);
    }
    const count = await this.#store.tokens.revokeAllOfUser(account.id);
    await this.#audit.record({ type: 'inventory.token_revoke', outcome: 'success', actor: actor.name, clientAddress: actor.clientAddress, details: { account: account.name, count } });
    return count;
  }

  async #serviceAccount(name: string): Promise<{ account: User; created: boolean }> {
    const existing = await this.#store.users.byName(name);
    if (existing !== undefined) {
      // A person's account must never hold orchestrator tokens: its owner could not see or revoke
      // them, and the audit log would blame the person for the orchestrator's actions.
      if (!isServiceAccount(existing)) throw new AirlockError('conflict', `"${name}" is a person's account; choose another name for the service account.`);
      if (existing.disabled) throw new AirlockError('disabled', `The service account ${name} is disabled; enable it first with airlock admin user enable ${name}.`);
      return { account: existing, created: false };
    }
    try {
      const account = await this.#store.users.create({ name, email: null, isAdmin: false, passwordHash: SERVICE_ACCOUNT_PASSWORD_HASH, totpSecret: null }, this.#now());
      return { account, created: true };
    } catch (err) {
      // Created concurrently by another `token create`: use it if it is a service account.
      const raced = await this.#store.users.byName(name);
      if (raced !== undefined && isServiceAccount(raced)) return { account: raced, created: false };
      throw err;
    }
  }
}
