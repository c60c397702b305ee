/**
 * Creating a local account (`airlock admin user add`): the name and password policy, the password
 * hash, a fresh TOTP secret and recovery codes. Everything secret is handed back exactly once and
 * stored only as hashes, except the TOTP secret, which verification needs in the clear.
 */
import { isIP } from 'node:net';
import type { Clock } from '../clock.ts';
import { AirlockError } from '../errors.ts';
import type { Store, User } from '../store/repositories.ts';
import { checkPasswordPolicy, hashPassword, type KdfCost } from './password.ts';
import { resetRecoveryCodes } from './recovery.ts';
import { assertNoLoginNameConflict, checkUserName } from './user-names.ts';
import { newTotpSecret, totpUri } from './totp.ts';

// The same rule the CA applies to principals: sshd splits principal lists on commas and treats
// whitespace specially, so a principal with either could name a different account.
const PRINCIPAL = /^[A-Za-z0-9_][A-Za-z0-9._@+-]{0,63}$/;

// The user-name rules (local and e-mail style) live in user-names.ts; re-exported for existing callers.
export { checkUserName };

function checkPrincipal(p: string): void {
  if (!PRINCIPAL.test(p)) {
    throw new AirlockError('bad_request', `"${p.slice(0, 64)}" is not a valid principal: use letters, digits and ._@+- only, at most 64 characters.`);
  }
}

/** Throws AirlockError('bad_request') unless `cidr` is an IPv4 or IPv6 address or network in CIDR notation. */
export function checkCidr(cidr: string): void {
  const [address = '', prefix, ...rest] = cidr.split('/');
  const family = isIP(address);
  const max = family === 4 ? 32 : 128;
  const ok = family !== 0 && !address.includes('%') && rest.length === 0 && (prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= max));
  if (!ok) throw new AirlockError('bad_request', `"${cidr.slice(0, 64)}" is not an address or network in CIDR notation (e.g. 192.0.2.0/24 or 2001:db8::/48).`);
}

/** What the operator supplies for a new local user. */
export interface EnrolmentInput {
  name: string;
  email: string | null;
  isAdmin: boolean;
  password: string;
  /** Further certificate principals (e.g. a shared account). */
  extraPrincipals?: string[];
  /** Client networks the user's certificates are restricted to (source-address); empty = anywhere. */
  sourceCidrs?: string[];
}

/** What enrolment hands the operator once: the TOTP secret (and its URI) and the recovery codes. */
export interface Enrolment {
  user: User;
  totpSecret: string;
  totpUri: string;
  recoveryCodes: string[];
}

/**
 * Creates a local user with a password, a fresh TOTP secret and recovery codes. Checks the name,
 * principals, networks and password policy before writing anything; throws AirlockError
 * ('bad_request', or 'conflict' when the name is taken).
 */
export async function enrolUser(
  store: Store,
  input: EnrolmentInput,
  clock: Clock,
  options: {
    /** The issuer shown in authenticator apps; defaults to "Airlock". */
    issuer?: string;
    recoveryCodes?: number;
    /** Only for tests that are not about the KDF; production uses the OWASP default. */
    kdfCost?: KdfCost;
  } = {},
): Promise<Enrolment> {
  checkUserName(input.name);
  const extraPrincipals = input.extraPrincipals ?? [];
  const sourceCidrs = input.sourceCidrs ?? [];
  extraPrincipals.forEach(checkPrincipal);
  sourceCidrs.forEach(checkCidr);
  checkPasswordPolicy(input.password, input.name);
  await assertNoLoginNameConflict(input.name, (n) => store.users.byName(n));
  const passwordHash = await hashPassword(input.password, options.kdfCost === undefined ? {} : { cost: options.kdfCost });
  const totpSecret = newTotpSecret();
  const user = await store.users.create(
    { name: input.name, email: input.email, isAdmin: input.isAdmin, passwordHash, totpSecret, extraPrincipals, sourceCidrs },
    clock.now(),
  );
  // Not one transaction with the insert above (the repository interface has none); if this fails
  // the user exists without codes, can still sign in with TOTP, and resetRecoveryCodes can issue codes later.
  const recoveryCodes = await resetRecoveryCodes(store.recoveryCodes, user.id, options.recoveryCodes);
  return {
    user,
    totpSecret,
    totpUri: totpUri({ issuer: options.issuer ?? 'Airlock', account: user.name, secret: totpSecret }),
    recoveryCodes,
  };
}
