/**
 * The operator's actions on user accounts — add, disable, enable, reset TOTP, grant or remove the
 * admin role — as one service that `airlock admin user …`, the operator web pages and any API call
 * share (issue 12 item 8: "one service for both, not CLI code"). Every action is audited with the
 * actor who took it. Live gateway connections of a disabled user end through the access version
 * (store/access-version.ts), which `setDisabled` bumps; no caller has to remember that.
 */
import type { Auditor } from '../audit/auditor.ts';
import type { CertificateAuthority } from '../ca/authority.ts';
import { principalsFor } from '../ca/issuance-policy.ts';
import type { Clock } from '../clock.ts';
import { AirlockError } from '../errors.ts';
import { isServiceAccount } from '../inventory/api-scopes.ts';
import { parseCidr } from '../ssh/cidr.ts';
import type { Store, User } from '../store/repositories.ts';
import { enrolUser, type Enrolment } from './enrolment.ts';
import { resetRecoveryCodes } from './recovery.ts';
import { newTotpSecret, totpUri } from './totp.ts';

/** Who acts, for the audit trail: an operator's user name (web) or 'admin-cli'. */
export interface Actor {
  name: string;
  clientAddress: string | null;
}

/** A user as operators see them (no secrets). */
export interface UserView {
  name: string;
  email: string | null;
  admin: boolean;
  disabled: boolean;
  totp: boolean;
  /** An orchestrator's account (API tokens only; never signs in). */
  serviceAccount: boolean;
  sourceCidrs: string[];
  extraPrincipals: string[];
  createdAt: number;
}

/** What a TOTP reset hands the operator once. */
export interface TotpReset {
  totpUri: string;
  recoveryCodes: string[];
}

/** The user-administration service. */
export class UserAdmin {
  readonly #store: Store;
  readonly #ca: Pick<CertificateAuthority, 'revokeAllOfUser'>;
  readonly #audit: Auditor;
  readonly #clock: Clock;
  readonly #issuer: string | undefined;

  constructor(deps: { store: Store; ca: CertificateAuthority; audit: Auditor; clock: Clock; issuer?: string }) {
    this.#store = deps.store;
    this.#ca = deps.ca;
    this.#audit = deps.audit;
    this.#clock = deps.clock;
    this.#issuer = deps.issuer;
  }

  /** A user by name; AirlockError('not_found') when there is none. */
  async byName(name: string): Promise<User> {
    const user = await this.#store.users.byName(name);
    if (!user) throw new AirlockError('not_found', `No user named "${name.slice(0, 64)}"; check the name in the user list.`);
    return user;
  }

  /** Users, optionally only those whose name or e-mail contains `search` (case-insensitive). */
  async list(search?: string): Promise<UserView[]> {
    const q = (search ?? '').trim().toLowerCase();
    const users = await this.#store.users.list();
    return users
      .filter((u) => q === '' || u.name.toLowerCase().includes(q) || (u.email ?? '').toLowerCase().includes(q))
      .map(userView);
  }

  /** Creates a local user; the TOTP URI and recovery codes in the result are shown once and never again. */
  async add(input: { name: string; email: string | null; admin: boolean; password: string; extraPrincipals?: string[]; sourceCidrs?: string[] }, actor: Actor): Promise<Enrolment> {
    // Refuse malformed networks and principals before creating anything.
    for (const c of input.sourceCidrs ?? []) parseCidr(c);
    principalsFor({ name: input.name, extraPrincipals: input.extraPrincipals ?? [] });
    const enrolment = await enrolUser(this.#store, {
      name: input.name, email: input.email, isAdmin: input.admin, password: input.password,
      extraPrincipals: input.extraPrincipals ?? [], sourceCidrs: input.sourceCidrs ?? [],
    }, this.#clock, this.#issuer === undefined ? {} : { issuer: this.#issuer });
    await this.#record('admin.user_add', actor, { name: input.name, admin: input.admin });
    return enrolment;
  }

  /** Disables a user: sign-in refused, API and CLI tokens revoked, every certificate revoked, live connections ended; returns the serials revoked. */
  async disable(name: string, actor: Actor): Promise<bigint[]> {
    const user = await this.byName(name);
    // The flag first: from here on, every new sign-in, token use and gateway login is refused.
    await this.#store.users.setDisabled(user.name, true);
    await this.#store.tokens.revokeAllOfUser(user.id);
    const serials = await this.#ca.revokeAllOfUser(user, { actor: actor.name, reason: 'user disabled', clientAddress: actor.clientAddress });
    await this.#record('admin.user_disable', actor, { name: user.name, revoked: serials.length });
    return serials;
  }

  /** Enables a disabled user again (their certificates stay revoked). */
  async enable(name: string, actor: Actor): Promise<void> {
    const user = await this.byName(name);
    await this.#store.users.setDisabled(user.name, false);
    await this.#record('admin.user_enable', actor, { name: user.name });
  }

  /** Replaces a user's TOTP secret and recovery codes (a lost phone); the old ones stop working at once. */
  async resetTotp(name: string, actor: Actor): Promise<TotpReset> {
    const user = await this.byName(name);
    const secret = newTotpSecret();
    await this.#store.users.update(user.id, { totpSecret: secret });
    const recoveryCodes = await resetRecoveryCodes(this.#store.recoveryCodes, user.id);
    await this.#record('admin.user_totp_reset', actor, { name: user.name });
    return { totpUri: totpUri({ issuer: this.#issuer ?? 'Airlock', account: user.name, secret }), recoveryCodes };
  }

  /** Grants or removes the admin role. An operator cannot remove their own: someone must stay able to administer. */
  async setAdmin(name: string, admin: boolean, actor: Actor): Promise<void> {
    const user = await this.byName(name);
    if (!admin && user.name === actor.name) throw new AirlockError('bad_request', 'You cannot remove your own admin role; ask another operator.');
    await this.#store.users.update(user.id, { isAdmin: admin });
    await this.#record(admin ? 'admin.user_grant_admin' : 'admin.user_revoke_admin', actor, { name: user.name });
  }

  async #record(type: string, actor: Actor, details: Record<string, unknown>): Promise<void> {
    await this.#audit.record({ type, outcome: 'success', actor: actor.name, clientAddress: actor.clientAddress, details });
  }
}

/** The operator's view of a user. */
export function userView(u: User): UserView {
  return {
    name: u.name, email: u.email, admin: u.isAdmin, disabled: u.disabled, totp: u.totpSecret !== null, serviceAccount: isServiceAccount(u),
    sourceCidrs: u.sourceCidrs, extraPrincipals: u.extraPrincipals, createdAt: u.createdAt,
  };
}

/** The actor of `airlock admin` commands. */
export const ADMIN_CLI: Actor = { name: 'admin-cli', clientAddress: null };
