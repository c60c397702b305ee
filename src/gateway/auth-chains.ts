/**
 * Authentication chains at the gateway: which combinations of factors log a user in, as the operator
 * sets them — certificate alone, registered key alone, browser login alone, or a key (or certificate)
 * followed by a browser login (SSH partial success, RFC 4252 §5.1) — by default and per user or
 * project. Pure parsing and decisions; the gateway applies them.
 *
 * The methods the gateway advertises are the same for every user name (the union of all chains), so
 * that the answer to a `none` request does not tell who exists or who is in which project (checklist
 * item 8); each user's own chains are enforced when a factor succeeds.
 */
import { AirlockError } from '../errors.ts';

export type AuthFactor = 'certificate' | 'publickey' | 'browser';
/** A chain: one first factor, optionally followed by a browser login; or a browser login alone. */
export type AuthChain = readonly AuthFactor[];

export interface AuthChainPolicy {
  /** Chains for users without an override. */
  defaults: AuthChain[];
  /** Per user name. */
  users: Record<string, AuthChain[]>;
  /** Per project name; a user in several overridden projects must satisfy all of them. */
  projects: Record<string, AuthChain[]>;
}

const VALID = new Set(['certificate', 'publickey', 'browser', 'certificate+browser', 'publickey+browser']);

/** The text form of a chain (`publickey+browser`). */
export function chainName(chain: AuthChain): string {
  return chain.join('+');
}

/** Parses a chain list such as `certificate,publickey+browser` (also `|`-separated inside overrides). */
export function parseChains(text: string, what: string): AuthChain[] {
  const out: AuthChain[] = [];
  for (const raw of text.split(/[,|]/)) {
    const name = raw.trim();
    if (name === '') continue;
    if (!VALID.has(name)) {
      throw new AirlockError('config', `Unknown login method or chain "${name.slice(0, 64)}" in ${what}; use certificate, publickey, browser, certificate+browser or publickey+browser.`);
    }
    if (!out.some((c) => chainName(c) === name)) out.push(name.split('+') as AuthFactor[]);
  }
  if (out.length === 0) throw new AirlockError('config', `${what} must name at least one login method (certificate, publickey, browser, or a chain such as publickey+browser).`);
  return out;
}

/** Parses `NAME=CHAIN|CHAIN; NAME=CHAIN` overrides (`AIRLOCK_GATEWAY_AUTH_USERS`, `…_PROJECTS`). */
export function parseChainOverrides(text: string | undefined, what: string): Record<string, AuthChain[]> {
  const out: Record<string, AuthChain[]> = {};
  for (const raw of (text ?? '').split(/[;\n]/)) {
    const entry = raw.trim();
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    const name = eq > 0 ? entry.slice(0, eq).trim() : '';
    if (!/^[a-z0-9_][a-z0-9_.-]{0,62}$/.test(name)) throw new AirlockError('config', `Invalid entry "${entry.slice(0, 80)}" in ${what}: use NAME=CHAIN|CHAIN; NAME=CHAIN.`);
    out[name] = parseChains(entry.slice(eq + 1), `${what} for ${name}`);
  }
  return out;
}

/** Every chain the policy mentions anywhere. */
function allChains(p: AuthChainPolicy): AuthChain[] {
  return [p.defaults, ...Object.values(p.users), ...Object.values(p.projects)].flat();
}

/** First factors enabled anywhere (what the publickey verifier must accept at all). */
export function firstFactors(p: AuthChainPolicy): ('certificate' | 'publickey')[] {
  const set = new Set<'certificate' | 'publickey'>();
  for (const c of allChains(p)) if (c[0] === 'certificate' || c[0] === 'publickey') set.add(c[0]);
  return [...set];
}

/** Whether any chain uses the browser login. */
export function usesBrowser(p: AuthChainPolicy): boolean {
  return allChains(p).some((c) => c.includes('browser'));
}

/** The SSH methods the gateway advertises: the same for every user. */
export function advertisedMethods(p: AuthChainPolicy): ('publickey' | 'keyboard-interactive')[] {
  const out: ('publickey' | 'keyboard-interactive')[] = [];
  if (firstFactors(p).length > 0) out.push('publickey');
  if (usesBrowser(p)) out.push('keyboard-interactive');
  return out;
}

/**
 * The chains that apply to a user: their own override; else, when projects they belong to have
 * overrides, only the chains every one of those projects accepts (possibly none: fail closed); else
 * the defaults. An unknown user gets the defaults.
 */
export function chainsFor(p: AuthChainPolicy, userName: string | null, projectNames: readonly string[]): AuthChain[] {
  if (userName !== null && p.users[userName] !== undefined) return p.users[userName];
  const overridden = projectNames.map((n) => p.projects[n]).filter((c): c is AuthChain[] => c !== undefined);
  if (overridden.length === 0) return p.defaults;
  const [first, ...rest] = overridden;
  return first!.filter((c) => rest.every((other) => other.some((o) => chainName(o) === chainName(c))));
}

/** What to do after a factor succeeded, given the factors already passed on this connection. */
export type ChainVerdict = 'accept' | 'continue_with_browser' | 'refuse';

/** Decides the next step: the passed factors form a whole chain (accept), a prefix of one that ends in a browser login (continue), or neither. */
export function chainVerdict(chains: readonly AuthChain[], passed: readonly AuthFactor[]): ChainVerdict {
  const name = passed.join('+');
  if (chains.some((c) => chainName(c) === name)) return 'accept';
  if (chains.some((c) => c.length === passed.length + 1 && c[passed.length] === 'browser' && passed.every((f, i) => c[i] === f))) return 'continue_with_browser';
  return 'refuse';
}

/**
 * The verdict after a first factor for `identity`'s user, looking up their projects: the same rule
 * whether or not the browser-login module is present (without it, `continue_with_browser` cannot be
 * honoured and the caller refuses).
 */
export async function firstFactorVerdict(
  p: AuthChainPolicy,
  identity: { user: { id: string; name: string }; method: AuthFactor },
  projectsOfUser: (userId: string) => Promise<readonly { name: string }[]>,
): Promise<ChainVerdict> {
  const projects = (await projectsOfUser(identity.user.id)).map((x) => x.name);
  return chainVerdict(chainsFor(p, identity.user.name, projects), [identity.method]);
}
