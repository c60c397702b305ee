import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isAirlockError } from '../errors.ts';
import { parseGroupProjects, parseOidcSettings, scopesToRequest, type OidcFileKey } from './oidc-settings.ts';

const pickFrom = (values: Partial<Record<OidcFileKey, string>>) => (key: OidcFileKey) => values[key];

test('no issuer means no federation', () => {
  assert.equal(parseOidcSettings(pickFrom({}), {}), null);
});

test('defaults: openid scopes, preferred_username, groups; the secret comes from the environment only', () => {
  const s = parseOidcSettings(pickFrom({ oidc_issuer: 'https://login.example.org/realms/research', oidc_client_id: 'airlock' }), { AIRLOCK_OIDC_CLIENT_SECRET: 's3cret' });
  assert.deepEqual(s, {
    issuer: 'https://login.example.org/realms/research', clientId: 'airlock', clientSecret: 's3cret', scopes: ['openid', 'profile', 'email'],
    usernameClaim: 'preferred_username', groupsClaim: 'groups', groupProjects: [], displayName: 'your institution',
  });
  assert.deepEqual(parseOidcSettings(pickFrom({ oidc_issuer: 'https://x.example', oidc_client_id: 'c', oidc_scopes: 'profile eduperson_entitlement' }), {})?.scopes, ['openid', 'profile', 'eduperson_entitlement']);
});

test('plain http only for a loopback issuer; a client id is required', () => {
  const bad = (values: Partial<Record<OidcFileKey, string>>) => assert.throws(() => parseOidcSettings(pickFrom(values), {}), (e) => isAirlockError(e, 'config'));
  bad({ oidc_issuer: 'http://login.example.org', oidc_client_id: 'c' });
  bad({ oidc_issuer: 'not a url', oidc_client_id: 'c' });
  bad({ oidc_issuer: 'https://login.example.org' });
  bad({ oidc_issuer: 'https://login.example.org', oidc_client_id: 'c', oidc_username_claim: 'a b' });
  assert.ok(parseOidcSettings(pickFrom({ oidc_issuer: 'http://127.0.0.1:4000', oidc_client_id: 'c' }), {}));
});

test('group mapping: URN groups, roles member and pi, never admin', () => {
  assert.deepEqual(parseGroupProjects('/genomics=genomics, urn:geant:lifescience-ri.eu:group:vo.x#aai=imaging:pi\nstaff=ops:member'), [
    { group: '/genomics', project: 'genomics', role: 'member' },
    { group: 'urn:geant:lifescience-ri.eu:group:vo.x#aai', project: 'imaging', role: 'pi' },
    { group: 'staff', project: 'ops', role: 'member' },
  ]);
  for (const bad of ['admins=ops:admin', 'nogroup', '=ops', 'g=Bad Project', 'g=ops:pi:x']) {
    assert.throws(() => parseGroupProjects(bad), (e) => isAirlockError(e, 'config'), bad);
  }
  assert.throws(() => parseGroupProjects('admins=ops:admin'), /never by an identity provider's group/);
});

test('a group mapping requests the groups claim\'s scope when the provider advertises it, and only then', () => {
  const base = parseOidcSettings(pickFrom({ oidc_issuer: 'https://x.example', oidc_client_id: 'c' }), {})!;
  const mapped = parseOidcSettings(pickFrom({ oidc_issuer: 'https://x.example', oidc_client_id: 'c', oidc_group_projects: 'team=genomics' }), {})!;
  assert.deepEqual(scopesToRequest(mapped, ['openid', 'profile', 'email', 'groups']), ['openid', 'profile', 'email', 'groups']);
  assert.deepEqual(scopesToRequest(base, ['openid', 'groups']), ['openid', 'profile', 'email'], 'no mapping, no extra scope');
  assert.deepEqual(scopesToRequest(mapped, ['openid', 'profile']), ['openid', 'profile', 'email'], 'not advertised: not requested (Keycloak refuses unknown scopes)');
  assert.deepEqual(scopesToRequest(mapped, undefined), ['openid', 'profile', 'email']);
  const lsLogin = parseOidcSettings(pickFrom({ oidc_issuer: 'https://x.example', oidc_client_id: 'c', oidc_groups_claim: 'eduperson_entitlement', oidc_group_projects: 'urn:x:group:vo=genomics' }), {})!;
  assert.deepEqual(scopesToRequest(lsLogin, ['openid', 'eduperson_entitlement']), ['openid', 'profile', 'email', 'eduperson_entitlement']);
  const explicit = parseOidcSettings(pickFrom({ oidc_issuer: 'https://x.example', oidc_client_id: 'c', oidc_scopes: 'openid groups', oidc_group_projects: 'team=genomics' }), {})!;
  assert.deepEqual(scopesToRequest(explicit, ['openid', 'groups']), ['openid', 'groups'], 'never twice');
});
