/**
 * Checklist item 13 (OIDC misuse) and item 7 for federated sign-in, against a real provider
 * (oidc-provider in this process) and a real Chromium: a callback whose `state` does not match this
 * browser's, a replayed callback, an ID token with the wrong issuer, audience or nonce (re-signed with
 * the provider's own key so that only that claim is wrong) — each refused and audited. Group claims
 * change only the project memberships the operator mapped, never the operator role.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { BrowserContext, Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../harness/in-process.ts';
import { startOidcProvider, type TestOidcProvider } from '../harness/oidc-provider.ts';
import { launchChromium, CHROMIUM_SKIP_REASON, type TestBrowser } from '../harness/browser.ts';
import { enrolUser } from '../../src/identity/local-login.ts';

let idp: TestOidcProvider;
let srv: TestServer;
let chrome: TestBrowser;
const contexts: BrowserContext[] = [];

before(async () => {
  if (CHROMIUM_SKIP_REASON) return;
  idp = await startOidcProvider();
  srv = await startTestServer({
    env: {
      AIRLOCK_OIDC_ISSUER: idp.issuer, AIRLOCK_OIDC_CLIENT_ID: idp.clientId, AIRLOCK_OIDC_CLIENT_SECRET: idp.clientSecret,
      AIRLOCK_OIDC_SCOPES: 'openid profile email groups', AIRLOCK_OIDC_GROUP_PROJECTS: '/genomics=genomics,/imaging-leads=imaging:pi',
      AIRLOCK_OIDC_DISPLAY_NAME: 'Test IdP',
    },
  });
  idp.attach(`${srv.url}/login/oidc/callback`);
  const actor = { name: 'test', clientAddress: null };
  await srv.server.core.inventory.addProject('genomics', actor);
  await srv.server.core.inventory.addProject('imaging', actor);
  chrome = await launchChromium();
});

after(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await chrome?.close();
  await srv?.stop();
  await idp?.stop();
});

async function freshPage(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await chrome.context();
  contexts.push(context);
  return { context, page: await context.newPage() };
}

/** Signs in at the provider's development pages as `login` (the subject), starting from Airlock's button. */
async function signInAtProvider(page: Page, login: string, atProvider?: () => Promise<void>): Promise<void> {
  await page.goto(`${srv.url}/login`);
  await page.click('#oidc');
  await page.waitForURL((u) => u.href.startsWith(idp.issuer));
  await atProvider?.();
  await page.fill('input[name=login]', login);
  await page.fill('input[name=password]', 'any');
  await page.click('button[type=submit]');
  // The consent page (first sign-in of this browser), then back to Airlock.
  const consent = page.locator('button:has-text("Continue")');
  await consent.waitFor({ timeout: 15_000 });
  await consent.click();
}

async function lastAudit(type: string): Promise<Record<string, unknown>> {
  const events = await srv.server.core.store.audit.list({ type });
  const e = events.at(-1);
  assert.ok(e, `an ${type} audit event`);
  return { outcome: e.outcome, actor: e.actor, ...e.details };
}

test('a federated sign-in creates the user, links the subject and applies only the mapped groups', { skip: CHROMIUM_SKIP_REASON }, async () => {
  idp.accounts.set('sub-alice', { username: 'alice', groups: ['/genomics', '/admins', 'operators'], email: 'alice@example.org' });
  const { page } = await freshPage();
  await signInAtProvider(page, 'sub-alice');
  await page.waitForURL(`${srv.url}/`);
  assert.match(await page.content(), /Signed in as <strong>alice<\/strong>/);
  const alice = await srv.server.core.store.users.byName('alice');
  assert.ok(alice);
  assert.equal(alice.isAdmin, false, 'no group makes an operator');
  assert.equal(alice.totpSecret, null);
  assert.equal((await srv.server.core.store.externalIdentities.find(idp.issuer, 'sub-alice'))?.userId, alice.id);
  const projects = await srv.server.core.store.projects.projectsOfUser(alice.id);
  assert.deepEqual(projects.map((p) => `${p.name}:${p.role}`), ['genomics:member']);
  const audit = await lastAudit('auth.oidc');
  assert.equal(audit.outcome, 'success');
  assert.equal(audit.subject, 'sub-alice');

  await test('leaving the group at the provider removes the mapped membership at the next sign-in', async () => {
    idp.accounts.set('sub-alice', { username: 'alice', groups: ['/imaging-leads'] });
    const second = await freshPage();
    await signInAtProvider(second.page, 'sub-alice');
    await second.page.waitForURL(`${srv.url}/`);
    const now = await srv.server.core.store.projects.projectsOfUser(alice.id);
    assert.deepEqual(now.map((p) => `${p.name}:${p.role}`), ['imaging:pi']);
  });
});

test('a subject cannot take over an operator account or a name another subject owns', { skip: CHROMIUM_SKIP_REASON }, async () => {
  await enrolUser(srv.server.core.store, { name: 'opadmin', email: null, isAdmin: true, password: 'a long operator password' }, srv.server.core.clock);
  idp.accounts.set('sub-mallory', { username: 'opadmin' });
  const { page } = await freshPage();
  const callback = page.waitForResponse((r) => r.url().startsWith(`${srv.url}/login/oidc/callback`));
  await signInAtProvider(page, 'sub-mallory');
  const res = await callback;
  assert.equal(res.status(), 403);
  assert.match(await page.content(), /Operator accounts sign in with their password/);
  assert.equal((await lastAudit('auth.oidc')).reason, 'user_is_operator');

  idp.accounts.set('sub-alice-2', { username: 'alice' });
  const other = await freshPage();
  const callback2 = other.page.waitForResponse((r) => r.url().startsWith(`${srv.url}/login/oidc/callback`));
  await signInAtProvider(other.page, 'sub-alice-2');
  assert.equal((await callback2).status(), 403);
  assert.equal((await lastAudit('auth.oidc')).reason, 'user_linked_to_other_subject');
});

test('an e-mail style name cannot share a target account with a local user, nor carry characters that split principals', { skip: CHROMIUM_SKIP_REASON }, async () => {
  // bob_uni.example exists locally; a provider asserting bob@uni.example would map to the same account
  // on every node (principal bob_uni.example), so the federated account is never created.
  await enrolUser(srv.server.core.store, { name: 'bob_uni.example', email: null, isAdmin: false, password: 'a long local password' }, srv.server.core.clock);
  idp.accounts.set('sub-bob', { username: 'Bob@Uni.Example' });
  const { page } = await freshPage();
  const callback = page.waitForResponse((r) => r.url().startsWith(`${srv.url}/login/oidc/callback`));
  await signInAtProvider(page, 'sub-bob');
  assert.equal((await callback).status(), 403);
  assert.equal((await lastAudit('auth.oidc')).reason, 'user_login_name_conflict');
  assert.equal(await srv.server.core.store.users.byName('bob@uni.example'), undefined);

  for (const [sub, username] of [['sub-comma', 'eve,root@uni.example'], ['sub-newline', 'eve@uni.example\nroot']] as const) {
    idp.accounts.set(sub, { username });
    const other = await freshPage();
    const refused = other.page.waitForResponse((r) => r.url().startsWith(`${srv.url}/login/oidc/callback`));
    await signInAtProvider(other.page, sub);
    assert.equal((await refused).status(), 401, username);
    assert.equal((await lastAudit('auth.oidc')).reason, 'username_invalid', username);
  }
});

test('a callback with another state than this browser started, or replayed, is refused', { skip: CHROMIUM_SKIP_REASON }, async () => {
  idp.accounts.set('sub-carol', { username: 'carol' });
  const { context, page } = await freshPage();
  let captured = '';
  page.on('request', (r) => {
    if (r.url().startsWith(`${srv.url}/login/oidc/callback`)) captured = r.url();
  });
  let stateCookie: { value: string; httpOnly: boolean; sameSite: string } | undefined;
  const callback = page.waitForResponse((r) => r.url().startsWith(`${srv.url}/login/oidc/callback`));
  // While the browser is at the provider, its state cookie is swapped for another value: the callback
  // then carries a state this browser did not start.
  await signInAtProvider(page, 'sub-carol', async () => {
    stateCookie = (await context.cookies(srv.url)).find((c) => c.name === 'airlock_oidc_state');
    await context.addCookies([{ name: 'airlock_oidc_state', value: 'x'.repeat(43), url: srv.url }]);
  });
  assert.equal((await callback).status(), 401);
  assert.equal((await lastAudit('auth.oidc')).reason, 'state_mismatch');
  assert.ok(stateCookie, 'the state cookie was set when the flow began');
  assert.equal(stateCookie.httpOnly, true);
  assert.equal(stateCookie.sameSite, 'Lax');
  assert.match(captured, /[?&]state=/);

  const deliver = (cookie: string | null) => fetch(captured, { redirect: 'manual', headers: cookie === null ? {} : { cookie: `airlock_oidc_state=${cookie}` } });
  const noCookie = await deliver(null);
  assert.equal(noCookie.status, 401);
  assert.equal((await lastAudit('auth.oidc')).reason, 'state_mismatch');
  const right = await deliver(stateCookie.value);
  // The same callback with this browser's own state goes through once (the code was never spent)…
  assert.equal(right.status, 303, await right.text());
  assert.match(right.headers.getSetCookie().join('\n'), /airlock_session=/);
  // …and never again.
  const replay = await deliver(stateCookie.value);
  assert.equal(replay.status, 401);
  assert.equal((await lastAudit('auth.oidc')).reason, 'state_unknown_or_used');
});

for (const [claim, change] of [
  ['iss', (c: Record<string, unknown>) => { c.iss = 'http://127.0.0.1:9/evil'; }],
  ['aud', (c: Record<string, unknown>) => { c.aud = 'another-client'; }],
  ['nonce', (c: Record<string, unknown>) => { c.nonce = 'not-the-nonce-airlock-sent'; }],
] as const) {
  test(`an ID token with the wrong ${claim} is refused`, { skip: CHROMIUM_SKIP_REASON }, async () => {
    idp.accounts.set(`sub-${claim}`, { username: `user-${claim}` });
    idp.tamperIdToken(change);
    try {
      const { page } = await freshPage();
      const callback = page.waitForResponse((r) => r.url().startsWith(`${srv.url}/login/oidc/callback`));
      await signInAtProvider(page, `sub-${claim}`);
      const res = await callback;
      assert.equal(res.status(), 401);
      assert.match(await page.content(), /could not be completed/);
      const audit = await lastAudit('auth.oidc');
      assert.equal(audit.outcome, 'denied');
      assert.match(String(audit.reason), new RegExp(`^token_rejected:.*${claim}`));
      assert.equal(await srv.server.core.store.users.byName(`user-${claim}`), undefined, 'nobody was created or signed in');
    } finally {
      idp.tamperIdToken(null);
    }
  });
}
