/**
 * OIDC federation settings (`AIRLOCK_OIDC_*`): the provider, the client, which claim names the Airlock
 * user, and the operator's explicit mapping from IdP groups to projects. Groups never map to Airlock's
 * operator role nor to a project's admin role: an IdP group claim is not a grant of privilege unless an
 * operator wrote the mapping, and then only to member or PI (motley_cue's security assessment,
 * checklist item 13). The client secret is read from the environment only, like every secret.
 */
import { AirlockError } from '../errors.ts';

/** The config-file keys of this module (env form without `AIRLOCK_`, lower case). */
export const OIDC_FILE_KEYS = [
  'oidc_issuer', 'oidc_client_id', 'oidc_scopes', 'oidc_username_claim', 'oidc_groups_claim', 'oidc_group_projects', 'oidc_display_name',
] as const;
export type OidcFileKey = (typeof OIDC_FILE_KEYS)[number];

/** One line of the group mapping. */
export interface GroupProjectMapping {
  group: string;
  project: string;
  role: 'member' | 'pi';
}

export interface OidcSettings {
  /** The issuer identifier; discovery reads `<issuer>/.well-known/openid-configuration`. */
  issuer: string;
  clientId: string;
  /** Confidential client secret; undefined = public client (PKCE only). */
  clientSecret: string | undefined;
  scopes: string[];
  /** The ID token / userinfo claim whose value is the Airlock user name. */
  usernameClaim: string;
  /** The claim listing the user's groups (or entitlements). */
  groupsClaim: string;
  groupProjects: GroupProjectMapping[];
  /** The provider's name on the sign-in button. */
  displayName: string;
}

const PROJECT = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const CLAIM = /^[A-Za-z0-9_:.\-/]{1,128}$/;

function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** Whether plain-HTTP requests to this issuer are tolerated (loopback only: tests and single-host demos). */
export function issuerAllowsHttp(issuer: string): boolean {
  const u = new URL(issuer);
  return u.protocol === 'http:' && isLoopbackHost(u.hostname);
}

/**
 * Parses `AIRLOCK_OIDC_GROUP_PROJECTS`: comma- or newline-separated `GROUP=PROJECT[:ROLE]`, split at the
 * last `=` so that group names may be URNs (`urn:geant:lifescience-ri.eu:group:vo#aai=genomics:pi`).
 */
export function parseGroupProjects(text: string): GroupProjectMapping[] {
  const out: GroupProjectMapping[] = [];
  for (const raw of text.split(/[,\n]/)) {
    const entry = raw.trim();
    if (entry === '') continue;
    const eq = entry.lastIndexOf('=');
    const group = eq > 0 ? entry.slice(0, eq).trim() : '';
    const [project = '', role = 'member', ...rest] = (eq > 0 ? entry.slice(eq + 1) : '').trim().split(':');
    if (group === '' || !PROJECT.test(project) || rest.length > 0) {
      throw new AirlockError('config', `Invalid entry "${entry.slice(0, 100)}" in AIRLOCK_OIDC_GROUP_PROJECTS: use GROUP=PROJECT or GROUP=PROJECT:pi.`);
    }
    if (role !== 'member' && role !== 'pi') {
      throw new AirlockError('config', `AIRLOCK_OIDC_GROUP_PROJECTS may map a group to the role member or pi, not "${role.slice(0, 20)}": project and operator admins are appointed in Airlock, never by an identity provider's group.`);
    }
    out.push({ group, project, role });
  }
  return out;
}

/**
 * The scopes of an authorization request. When groups map to projects, the groups claim's own scope
 * (`groups`, or `eduperson_entitlement` at Life Science Login) is added if the provider lists it in
 * `scopes_supported`: most providers release the claim only under that scope, and an operator who
 * wrote the mapping should not also have to know that. A scope the provider does not advertise is
 * never added, since some providers (Keycloak) refuse a request naming an unknown scope.
 */
export function scopesToRequest(s: Pick<OidcSettings, 'scopes' | 'groupsClaim' | 'groupProjects'>, scopesSupported: readonly string[] | undefined): string[] {
  const scopes = [...s.scopes];
  if (s.groupProjects.length > 0 && !scopes.includes(s.groupsClaim) && scopesSupported?.includes(s.groupsClaim) === true) scopes.push(s.groupsClaim);
  return scopes;
}

/** Reads the OIDC settings; null when `AIRLOCK_OIDC_ISSUER` is unset (no federation). */
export function parseOidcSettings(pick: (key: OidcFileKey) => string | undefined, env: NodeJS.ProcessEnv): OidcSettings | null {
  const issuer = pick('oidc_issuer');
  if (issuer === undefined) return null;
  let url: URL;
  try {
    url = new URL(issuer);
  } catch (cause) {
    throw new AirlockError('config', `AIRLOCK_OIDC_ISSUER "${issuer.slice(0, 200)}" is not a URL.`, { cause });
  }
  if (url.protocol !== 'https:' && !issuerAllowsHttp(issuer)) {
    throw new AirlockError('config', 'AIRLOCK_OIDC_ISSUER must be an https:// URL (plain http is accepted only for a provider on this machine\'s loopback address).');
  }
  const clientId = pick('oidc_client_id');
  if (clientId === undefined) throw new AirlockError('config', 'AIRLOCK_OIDC_CLIENT_ID is required when AIRLOCK_OIDC_ISSUER is set.');
  const scopes = (pick('oidc_scopes') ?? 'openid profile email').split(/[\s,]+/).filter(Boolean);
  if (!scopes.includes('openid')) scopes.unshift('openid');
  const usernameClaim = pick('oidc_username_claim') ?? 'preferred_username';
  const groupsClaim = pick('oidc_groups_claim') ?? 'groups';
  for (const [name, value] of [['AIRLOCK_OIDC_USERNAME_CLAIM', usernameClaim], ['AIRLOCK_OIDC_GROUPS_CLAIM', groupsClaim]] as const) {
    if (!CLAIM.test(value)) throw new AirlockError('config', `${name} "${value.slice(0, 64)}" is not a claim name.`);
  }
  return {
    // The issuer is compared byte for byte with the `iss` of every ID token (OIDC Core §3.1.3.7).
    issuer,
    clientId,
    clientSecret: env.AIRLOCK_OIDC_CLIENT_SECRET || undefined,
    scopes,
    usernameClaim,
    groupsClaim,
    groupProjects: parseGroupProjects(pick('oidc_group_projects') ?? ''),
    displayName: pick('oidc_display_name') ?? 'your institution',
  };
}
