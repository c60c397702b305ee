/**
 * The user-certificate issuance policy as a list of small named checks, run in order before
 * anything is signed (the shape of smallstep's signing pipeline). Each check either passes or throws an
 * AirlockError that says what the user can do. Pure: no I/O; the caller supplies the quota history.
 */
import { AirlockError } from '../errors.ts';
import { assertAcceptableKey, type PublicKey } from '../ssh/keys.ts';
import type { User } from '../store/repositories.ts';
import { formatCidr, parseCidr } from '../ssh/cidr.ts';
import { loginNameFor } from '../identity/user-names.ts';

export const DAY_MS = 86_400_000;

export interface IssuancePolicy {
  ttlMs: number;
  dailyLimit: number;
  /** Whether certificates may carry permit-agent-forwarding (off by default: checklist item 9). */
  allowAgentForwarding: boolean;
}

export interface UserCertificatePlan {
  principals: string[];
  keyId: string;
  validAfterMs: number;
  validBeforeMs: number;
  extensions: Record<string, string>;
  criticalOptions: Record<string, string>;
}

// sshd splits principal lists on commas and treats whitespace specially in principals files; a
// principal containing either could grant a different account than the one intended.
const PRINCIPAL = /^[A-Za-z0-9_][A-Za-z0-9._@+-]{0,63}$/;

/**
 * The principals of a user's certificates: their name, the account name it maps to on targets
 * (`bob_uni.example` for `bob@uni.example`, user-names.ts), then operator-mapped principals, validated.
 * The name comes first: the gateway checks it, and the post-sign check verifies against it.
 */
export function principalsFor(user: Pick<User, 'name' | 'extraPrincipals'>): string[] {
  const all = [...new Set([user.name, loginNameFor(user.name), ...user.extraPrincipals])];
  for (const p of all) {
    if (!PRINCIPAL.test(p)) {
      throw new AirlockError('forbidden', `The principal "${p}" is not allowed in certificates (letters, digits and ._@+- only, at most 64); ask an operator to fix the mapping.`);
    }
  }
  return all;
}

/**
 * Checks the rolling 24-hour quota. `issuedAt` are issue times of the user's unrevoked certificates
 * within the last 24 h, oldest first: a revoked certificate frees its slot (CSCS: "until at least one
 * of these keys expires or keys are revoked"). Returns nothing when another certificate may be issued
 * now; otherwise throws with the next time and the way to free a slot at once.
 */
export function checkDailyQuota(issuedAt: number[], now: number, limit: number): void {
  const inWindow = issuedAt.filter((t) => t > now - DAY_MS).sort((a, b) => a - b);
  if (inWindow.length < limit) return;
  const nextAt = inWindow[inWindow.length - limit]! + DAY_MS;
  throw new AirlockError(
    'quota_exceeded',
    `You have reached the limit of ${limit} certificates in 24 hours; the next one can be issued at ${new Date(nextAt).toISOString()}, ` +
      'or revoke one you no longer use (airlock certs list, then airlock certs revoke SERIAL) to free its slot now.',
    { details: { next_possible_at: new Date(nextAt).toISOString(), limit } },
  );
}

/**
 * Today's quota as a person reads it ("3 of 5 left; the next after 14:05"): how many certificates may
 * still be issued in the rolling 24 hours, and when the oldest one in the window stops counting.
 * The same window as checkDailyQuota, so the page never promises what issuance refuses.
 */
export function quotaStatus(issuedAt: number[], now: number, limit: number): { limit: number; used: number; left: number; nextSlotAt: number | null } {
  const inWindow = issuedAt.filter((t) => t > now - DAY_MS).sort((a, b) => a - b);
  const used = Math.min(inWindow.length, limit);
  const left = Math.max(0, limit - inWindow.length);
  // With none left, the next is possible when enough old ones leave the window; else the oldest frees a slot.
  const oldest = left === 0 ? inWindow[inWindow.length - limit] : inWindow[0];
  return { limit, used, left, nextSlotAt: oldest === undefined ? null : oldest + DAY_MS };
}

/** Source-address critical option value for a user's CIDR restriction, or undefined when unrestricted. */
export function sourceAddressFor(cidrs: string[]): string | undefined {
  if (cidrs.length === 0) return undefined;
  try {
    return cidrs.map((c) => formatCidr(parseCidr(c))).join(',');
  } catch (cause) {
    throw new AirlockError('config', 'A CIDR restriction of this user is malformed; an operator must fix it.', { cause });
  }
}

/** Runs every check and returns what to sign; throws the first refusal. */
export function planUserCertificate(input: {
  user: User;
  publicKey: PublicKey;
  caKeyBlobs: Buffer[];
  issuedInLastDay: number[];
  now: number;
  policy: IssuancePolicy;
  issuer: string;
}): UserCertificatePlan {
  const { user, publicKey, now, policy } = input;
  if (user.disabled) throw new AirlockError('disabled', 'This account is disabled; contact your platform operators.');
  assertAcceptableKey(publicKey);
  if (input.caKeyBlobs.some((b) => b.equals(publicKey.blob))) {
    throw new AirlockError('invalid_key', 'That is one of Airlock\'s CA keys; generate your own key with ssh-keygen -t ed25519.');
  }
  const principals = principalsFor(user);
  checkDailyQuota(input.issuedInLastDay, now, policy.dailyLimit);
  const extensions: Record<string, string> = { 'permit-port-forwarding': '', 'permit-pty': '' };
  if (policy.allowAgentForwarding) extensions['permit-agent-forwarding'] = '';
  const criticalOptions: Record<string, string> = {};
  const sourceAddress = sourceAddressFor(user.sourceCidrs);
  if (sourceAddress) criticalOptions['source-address'] = sourceAddress;
  // Back-date by one minute: clients with slightly slow clocks would otherwise see "not yet valid".
  const validAfterMs = Math.floor(now / 1000) * 1000 - 60_000;
  return {
    principals,
    keyId: `${input.issuer}:${user.name}`,
    validAfterMs,
    validBeforeMs: Math.floor((now + policy.ttlMs) / 1000) * 1000,
    extensions,
    criticalOptions,
  };
}
