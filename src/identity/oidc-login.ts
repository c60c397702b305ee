/**
 * Sign-in through an OpenID Connect provider: authorization code flow with PKCE (RFC 7636), `state` and
 * `nonce`, via `openid-client` v6, which checks the ID token's signature, `iss`, `aud`, `nonce`, expiry,
 * and the callback's `state` and `iss` (RFC 9207). The in-flight values live in the database (the
 * callback may reach another replica) and are taken once; the browser must also present the `state` in
 * a cookie set when the flow began, so a callback URL planted in someone else's browser signs nobody in.
 *
 * The Airlock user is named by one operator-chosen claim and pinned to the provider's subject on first
 * sign-in; operator accounts never sign in through the provider. Group memberships change project
 * memberships only through the operator's explicit mapping (oidc-settings.ts).
 */
import { createHash } from 'node:crypto';
import * as oidc from 'openid-client';
import type { Auditor } from '../audit/auditor.ts';
import type { Clock } from '../clock.ts';
import { AirlockError, isAirlockError } from '../errors.ts';
import type { Store, User } from '../store/repositories.ts';
import { assertNoLoginNameConflict, userNameFromClaim } from './user-names.ts';
import { issuerAllowsHttp, scopesToRequest, type OidcSettings } from './oidc-settings.ts';

/** The audit event type of an OIDC sign-in. */
export const OIDC_LOGIN_EVENT = 'auth.oidc';
/** The callback path registered at the provider as redirect URI (after the public base URL). */
export const OIDC_CALLBACK_PATH = '/login/oidc/callback';
/** How long a started sign-in may take at the provider. */
const STATE_TTL_MS = 10 * 60_000;
/** Stored in place of a password hash for accounts created by federation: it never verifies. */
export const FEDERATED_PASSWORD_HASH = '!federated';

const GENERIC = 'The sign-in with your identity provider could not be completed. Start again from the sign-in page.';

function hash(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** A refusal with its audited reason; the person sees `message`. */
class OidcRefusal extends Error {
  readonly reason: string;
  readonly userMessage: string;
  readonly subject: string | undefined;
  constructor(reason: string, userMessage: string = GENERIC, subject?: string) {
    super(reason);
    this.reason = reason;
    this.userMessage = userMessage;
    this.subject = subject;
  }
}

export interface OidcLoginOptions {
  settings: OidcSettings;
  store: Store;
  clock: Clock;
  audit: Auditor;
  /** The web app's public base URL (no trailing slash); the redirect URI is built from it. */
  baseUrl: () => string;
}

/** The OIDC sign-in flow. */
export class OidcLogin {
  readonly #s: OidcSettings;
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #audit: Auditor;
  readonly #baseUrl: () => string;
  #config: Promise<oidc.Configuration> | undefined;

  constructor(options: OidcLoginOptions) {
    this.#s = options.settings;
    this.#store = options.store;
    this.#clock = options.clock;
    this.#audit = options.audit;
    this.#baseUrl = options.baseUrl;
  }

  /** The provider's name for the sign-in button. */
  get displayName(): string {
    return this.#s.displayName;
  }

  /** The redirect URI to register at the provider. */
  redirectUri(): string {
    return this.#baseUrl() + OIDC_CALLBACK_PATH;
  }

  /** Discovery, once (retried on the next sign-in if it failed). */
  #configuration(): Promise<oidc.Configuration> {
    if (this.#config === undefined) {
      const auth = this.#s.clientSecret === undefined ? oidc.None() : oidc.ClientSecretBasic(this.#s.clientSecret);
      const options = issuerAllowsHttp(this.#s.issuer) ? { execute: [oidc.allowInsecureRequests] } : undefined;
      this.#config = oidc.discovery(new URL(this.#s.issuer), this.#s.clientId, undefined, auth, options);
      this.#config.catch(() => (this.#config = undefined));
    }
    return this.#config;
  }

  /** Starts a sign-in: stores state, nonce and PKCE verifier; returns the provider's URL and the state for the cookie. */
  async begin(returnTo: string): Promise<{ authorizationUrl: string; state: string }> {
    let config: oidc.Configuration;
    try {
      config = await this.#configuration();
    } catch (cause) {
      throw new AirlockError('unavailable', 'The identity provider cannot be reached right now; try again shortly or sign in with your password.', { cause });
    }
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const now = this.#clock.now();
    await this.#store.oidcStates.create({ stateHash: hash(state), nonce, codeVerifier, returnTo, createdAt: now, expiresAt: now + STATE_TTL_MS });
    await this.#store.oidcStates.pruneExpired(now);
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.redirectUri(),
      scope: scopesToRequest(this.#s, config.serverMetadata().scopes_supported).join(' '),
      state,
      nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
    });
    return { authorizationUrl: url.href, state };
  }

  /**
   * Completes a sign-in from the callback's query and the state cookie; returns the Airlock user and
   * where to continue. Throws AirlockError('unauthenticated' | 'forbidden' | 'unavailable'); audited.
   */
  async finish(input: { query: URLSearchParams; cookieState: string | undefined; clientAddress: string | null }): Promise<{ user: User; returnTo: string }> {
    let subject: string | undefined;
    let claimedName: string | undefined;
    try {
      const state = input.query.get('state') ?? '';
      if (input.query.has('error')) throw new OidcRefusal(`provider_error:${(input.query.get('error') ?? '').slice(0, 64)}`, 'The identity provider did not sign you in. Start again from the sign-in page.');
      // The state must come back in this browser's cookie too: a callback URL someone else started
      // (login CSRF) or replayed from a log carries a state this browser never began.
      if (state === '' || input.cookieState === undefined || state !== input.cookieState) throw new OidcRefusal('state_mismatch');
      const stored = await this.#store.oidcStates.take(hash(state), this.#clock.now());
      if (stored === undefined) throw new OidcRefusal('state_unknown_or_used');
      const config = await this.#configuration();
      const callback = new URL(this.redirectUri());
      for (const [k, v] of input.query) callback.searchParams.append(k, v);
      let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
      try {
        tokens = await oidc.authorizationCodeGrant(config, callback, {
          pkceCodeVerifier: stored.codeVerifier,
          expectedState: state,
          expectedNonce: stored.nonce,
          idTokenExpected: true,
        });
      } catch (err) {
        throw new OidcRefusal(`token_rejected:${describeOidcError(err)}`);
      }
      const idClaims = tokens.claims();
      if (idClaims === undefined) throw new OidcRefusal('no_id_token');
      subject = idClaims.sub;
      let claims: Record<string, unknown> = { ...idClaims };
      const needGroups = this.#s.groupProjects.length > 0 && claims[this.#s.groupsClaim] === undefined;
      if (claims[this.#s.usernameClaim] === undefined || needGroups) {
        // Some providers (Life Science Login) release names and entitlements only through userinfo.
        const info = await oidc.fetchUserInfo(config, tokens.access_token, idClaims.sub);
        claims = { ...info, ...claims };
      }
      const claimed = claims[this.#s.usernameClaim];
      if (typeof claimed !== 'string') throw new OidcRefusal('username_claim_missing', `Your identity provider did not send the claim "${this.#s.usernameClaim}" that names your Airlock account; ask the operators.`, subject);
      claimedName = claimed;
      let name: string;
      try {
        // E-mail style names (bob@uni.example) are accepted and folded to lower case (user-names.ts).
        name = userNameFromClaim(claimed);
      } catch {
        throw new OidcRefusal('username_invalid', `Your identity provider names you "${claimed.slice(0, 64)}", which is not a valid Airlock user name; ask the operators.`, subject);
      }
      claimedName = name;
      const user = await this.#resolveUser(idClaims.iss, idClaims.sub, name, typeof claims.email === 'string' ? claims.email : null);
      const groups = groupList(claims[this.#s.groupsClaim]);
      const changes = await this.#syncProjects(user, groups);
      await this.#audit.record({
        type: OIDC_LOGIN_EVENT, outcome: 'success', actor: user.name, clientAddress: input.clientAddress,
        details: { issuer: idClaims.iss, subject: idClaims.sub, ...(changes.length > 0 ? { project_changes: changes } : {}) },
      });
      return { user, returnTo: stored.returnTo };
    } catch (err) {
      const refusal = err instanceof OidcRefusal ? err : undefined;
      const reason = refusal?.reason ?? 'internal';
      try {
        await this.#audit.record({
          type: OIDC_LOGIN_EVENT, outcome: refusal ? 'denied' : 'failure', actor: claimedName?.slice(0, 64) ?? null, clientAddress: input.clientAddress,
          details: { reason, issuer: this.#s.issuer, ...(subject ? { subject } : {}) },
        });
      } catch {
        // The denial below stands even if the audit log is what failed (fail closed, checklist item 15).
      }
      if (refusal) throw new AirlockError(reason.startsWith('user_') ? 'forbidden' : 'unauthenticated', refusal.userMessage, { details: { reason } });
      if (isAirlockError(err)) throw new AirlockError('unavailable', 'Sign-in is temporarily unavailable.', { cause: err });
      throw new AirlockError('unavailable', 'Sign-in is temporarily unavailable.', { cause: err });
    }
  }

  /** The Airlock user for a provider subject: the linked one, or a user of the claimed name (linked now), or a new one. */
  async #resolveUser(issuer: string, subject: string, name: string, email: string | null): Promise<User> {
    const link = await this.#store.externalIdentities.find(issuer, subject);
    if (link !== undefined) {
      const user = await this.#store.users.byId(link.userId);
      if (user === undefined) throw new OidcRefusal('user_gone', 'Your Airlock account no longer exists; ask the operators.', subject);
      if (user.disabled) throw new OidcRefusal('user_disabled', 'Your Airlock account is disabled.', subject);
      return user;
    }
    let user = await this.#store.users.byName(name);
    if (user === undefined) {
      try {
        await assertNoLoginNameConflict(name, (n) => this.#store.users.byName(n));
      } catch {
        throw new OidcRefusal('user_login_name_conflict', `Your user name ${name} would log in to targets under the same account as another Airlock user; ask the operators.`, subject);
      }
      try {
        user = await this.#store.users.create({ name, email, isAdmin: false, passwordHash: FEDERATED_PASSWORD_HASH, totpSecret: null }, this.#clock.now());
      } catch (err) {
        // Two first sign-ins at once: the other created it; carry on with that account.
        if (!isAirlockError(err, 'conflict')) throw err;
        user = await this.#store.users.byName(name);
        if (user === undefined) throw err;
      }
    }
    // An operator account is never reachable by a name an identity provider asserts.
    if (user.isAdmin) throw new OidcRefusal('user_is_operator', 'Operator accounts sign in with their password and one-time code, not through the identity provider.', subject);
    if (user.disabled) throw new OidcRefusal('user_disabled', 'Your Airlock account is disabled.', subject);
    // A name the provider once gave another subject (a reassigned user name) does not carry the account over.
    const existing = await this.#store.externalIdentities.byUser(issuer, user.id);
    if (existing !== undefined && existing.subject !== subject) throw new OidcRefusal('user_linked_to_other_subject', `The Airlock account ${user.name} belongs to another identity at your provider; ask the operators.`, subject);
    try {
      await this.#store.externalIdentities.link({ issuer, subject, userId: user.id, createdAt: this.#clock.now() });
    } catch (err) {
      if (!isAirlockError(err, 'conflict')) throw err;
      const again = await this.#store.externalIdentities.find(issuer, subject);
      if (again?.userId !== user.id) throw new OidcRefusal('user_linked_to_other_subject', `The Airlock account ${user.name} belongs to another identity at your provider; ask the operators.`, subject);
    }
    return user;
  }

  /**
   * Applies the operator's group → project mapping: for each mapped project, membership follows the
   * mapped groups (added with the mapped role, or removed when no mapped group is present). Projects
   * the mapping does not name are left alone. Returns the changes made.
   */
  async #syncProjects(user: User, groups: Set<string>): Promise<string[]> {
    if (this.#s.groupProjects.length === 0) return [];
    const wanted = new Map<string, 'member' | 'pi'>();
    const mapped = new Set<string>();
    for (const m of this.#s.groupProjects) {
      mapped.add(m.project);
      if (!groups.has(m.group)) continue;
      const prev = wanted.get(m.project);
      wanted.set(m.project, prev === 'pi' || m.role === 'pi' ? 'pi' : 'member');
    }
    const current = new Map((await this.#store.projects.projectsOfUser(user.id)).map((p) => [p.name, p]));
    const changes: string[] = [];
    for (const projectName of mapped) {
      const role = wanted.get(projectName);
      const have = current.get(projectName);
      if (role === undefined) {
        if (have !== undefined && have.role !== 'admin') {
          await this.#store.projects.removeMember(have.id, user.id);
          changes.push(`-${projectName}`);
        }
        continue;
      }
      // A project admin appointed in Airlock keeps that role; the mapping never lowers or raises it.
      if (have?.role === role || have?.role === 'admin') continue;
      const project = have ?? (await this.#store.projects.byName(projectName));
      if (project === undefined) continue; // mapped to a project that does not exist (yet): nothing to join
      await this.#store.projects.setMember(project.id, user.id, role);
      changes.push(`+${projectName}:${role}`);
    }
    return changes;
  }
}

/** A claim value as a set of group names: an array of strings, or one string. */
function groupList(value: unknown): Set<string> {
  if (typeof value === 'string') return new Set([value]);
  if (Array.isArray(value)) return new Set(value.filter((v): v is string => typeof v === 'string'));
  return new Set();
}

/** A short, secret-free description of an openid-client error for the audit log (code, claim, innermost message). */
export function describeOidcError(err: unknown): string {
  if (!(err instanceof Error)) return 'unknown';
  const code = (err as { code?: unknown }).code;
  let claim: string | undefined;
  let message = err.message;
  // openid-client wraps oauth4webapi's error, whose cause names the claim that failed ({ claim, … }).
  let cause: unknown = err.cause;
  for (let depth = 0; depth < 4 && typeof cause === 'object' && cause !== null; depth++) {
    const c = cause as { claim?: unknown; message?: unknown; cause?: unknown };
    if (typeof c.claim === 'string') claim ??= c.claim;
    if (cause instanceof Error) message = cause.message;
    cause = c.cause;
  }
  return `${typeof code === 'string' ? code : err.name}${claim ? `:${claim}` : ''}:${message.slice(0, 120)}`;
}
