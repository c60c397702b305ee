/**
 * Airlock user names, and the account name (certificate principal) each one logs in as on targets.
 *
 * Two forms are accepted. A local name follows the portable subset of useradd's rules, so that it can
 * be the Unix account itself. An e-mail style name (`bob@uni.example`) is what institutions' identity
 * providers assert (Life Science Login's and eduGAIN's `preferred_username`, or `email`); it is kept
 * as the Airlock name (gateway login, key ID, audit) and maps to the account name `bob_uni.example`:
 * sshd's default principal check compares the principal with the local account name, and no Unix
 * account can contain "@". Both grammars exclude commas and whitespace (sshd splits principal lists on
 * commas: a principal with one could name a second account) and every control character.
 *
 * The mapping is injective on e-mail names (a domain has no "_", so the last "_" marks where "@" was),
 * but `bob_uni.example` is also a valid local name: `loginNameConflicts` names the one other user
 * name that would share the account, so that creation and issuance can refuse the second of the pair.
 */
import { AirlockError } from '../errors.ts';

/** The longest accepted user name (a principal is at most 64 characters here, see issuance-policy.ts). */
export const MAX_USER_NAME = 64;

// Local accounts: lower case, no leading digit or dash, at most 32 (useradd, utmp).
const LOCAL_NAME = /^[a-z_][a-z0-9_.-]{0,31}$/;
// E-mail style: a conservative subset of RFC 5321's dot-atom local part (no "+", "%", quotes) at a
// DNS name with at least one dot; lower case only (claims are folded before the check).
const EMAIL_LOCAL = /^[a-z0-9_](?:[a-z0-9_.-]{0,62})$/;
const DOMAIN = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;

/** Whether `name` is an e-mail style user name (`local@domain`) under the accepted grammar. */
export function isEmailStyleName(name: string): boolean {
  if (name.length > MAX_USER_NAME) return false;
  const at = name.indexOf('@');
  if (at <= 0 || at !== name.lastIndexOf('@')) return false;
  const local = name.slice(0, at);
  return EMAIL_LOCAL.test(local) && !local.endsWith('.') && !local.includes('..') && DOMAIN.test(name.slice(at + 1));
}

/** Whether `name` is an acceptable Airlock user name (local or e-mail style). */
export function isValidUserName(name: string): boolean {
  return LOCAL_NAME.test(name) || isEmailStyleName(name);
}

/** Throws AirlockError('bad_request') unless the name is an acceptable Airlock user name. */
export function checkUserName(name: string): void {
  if (!isValidUserName(name)) {
    throw new AirlockError(
      'bad_request',
      `"${[...name.slice(0, 64)].map((c) => (/[\x20-\x7e]/.test(c) ? c : '?')).join('')}" is not a valid user name: use 1 to 32 lower-case letters, digits, "_", "." or "-", starting with a letter or "_", or an e-mail style name such as bob@uni.example (at most 64 characters).`,
    );
  }
}

/**
 * The account a user logs in as on targets, which is also their second certificate principal:
 * the name itself for a local name, `local_domain` for an e-mail style name.
 */
export function loginNameFor(name: string): string {
  return isEmailStyleName(name) ? name.replace('@', '_') : name;
}

/**
 * The other user name that would log in as the same account as `name`, or undefined: for
 * `bob@uni.example` it is `bob_uni.example`, and for the local name `bob_uni.example` it is
 * `bob@uni.example`.
 */
export function loginNameConflict(name: string): string | undefined {
  if (isEmailStyleName(name)) return loginNameFor(name);
  const cut = name.lastIndexOf('_');
  if (cut <= 0) return undefined;
  const twin = `${name.slice(0, cut)}@${name.slice(cut + 1)}`;
  return isEmailStyleName(twin) ? twin : undefined;
}

/**
 * Throws AirlockError('conflict') when another user already holds the account name `name` maps to.
 * `lookup` returns the id of the user of that name, if any; `selfId` is the user being checked (at
 * issuance) or undefined (at creation).
 */
export async function assertNoLoginNameConflict(name: string, lookup: (name: string) => Promise<{ id: string } | undefined>, selfId?: string): Promise<void> {
  const twin = loginNameConflict(name);
  if (twin === undefined) return;
  const other = await lookup(twin);
  if (other !== undefined && other.id !== selfId) {
    throw new AirlockError(
      'conflict',
      `The user names ${name} and ${twin} would both log in to targets as ${loginNameFor(isEmailStyleName(name) ? name : twin)}; an operator must rename or remove one of them.`,
    );
  }
}

/**
 * The Airlock name for a name an identity provider asserts: folded to lower case (e-mail domains are
 * case-insensitive, and providers differ in how they capitalise the local part), then checked.
 */
export function userNameFromClaim(claimed: string): string {
  const name = claimed.trim().toLowerCase();
  checkUserName(name);
  return name;
}
