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
import { assertNoLoginNameConflict } from '../identity/user-names.ts';
import type { SessionTokens } from '../identity/session-tokens.ts';
import type { Store, Token, User } from '../store/repositories.ts';
import { MAX_API_TOKEN_TTL_MS, PROJECT_SCOPE_PREFIX, SERVICE_ACCOUNT_PASSWORD_HASH, isServiceAccount, parseScopes, type ApiScope } from './api-scopes.ts';
import type { Actor, Project } from './ports.ts';

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
    await assertNoLoginNameConflict(name, (n) => this.#store.users.byName(n));
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
