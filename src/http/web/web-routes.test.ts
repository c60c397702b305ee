/**
 * The browser-login web pages over real HTTP against the real composition root (store, LocalLogin,
 * BrowserLogins): sign-in with password + TOTP, cookies and CSRF, the approval page, and each refusal
 * of checklist item 7 — another user, a link used twice, an expired link, a code of another request.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../clock.ts';
import { startTestServer, TEST_PASSWORD, type TestServer } from '../../../test/harness/in-process.ts';
import { hashLoginSecret } from '../../identity/browser-login.ts';
import { csrfCookieName } from './web-security.ts';

let srv: TestServer;
let clock: ManualClock;
const secrets: Record<string, string> = {};

/** A browser's cookies, enough for these pages. */
class Browser {
  readonly cookies = new Map<string, string>();
  readonly setCookieLines: string[] = [];
  async get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string; location: string | null }> {
    return this.#send(path, { method: 'GET', headers });
  }
  async post(path: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<{ status: number; text: string; location: string | null }> {
    return this.#send(path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form).toString() });
  }
  csrf(): string {
    return this.cookies.get('__Host-airlock_csrf') ?? '';
  }
  async #send(path: string, init: { method: string; headers: Record<string, string>; body?: string }) {
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(srv.url + path, { ...init, redirect: 'manual', headers: { ...init.headers, ...(cookie ? { cookie } : {}) } });
    for (const line of res.headers.getSetCookie()) {
      this.setCookieLines.push(line);
      const [pair = ''] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      if (value === '' || /max-age=0/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return { status: res.status, text: await res.text(), location: res.headers.get('location') };
  }
}

before(async () => {
  clock = new ManualClock(Date.UTC(2026, 0, 5, 9, 0, 0));
  srv = await startTestServer({ clock });
  for (const name of ['alice', 'bob']) secrets[name] = (await srv.addUser(name)).secret;
});
after(async () => srv?.stop());

async function signIn(b: Browser, name: string, next = '/'): Promise<void> {
  clock.advance(30_000); // a fresh TOTP step: a code is accepted once (RFC 6238 §5.2)
  await b.get(`/login?next=${encodeURIComponent(next)}`);
  const res = await b.post('/login/password', { csrf: b.csrf(), next, user: name, password: TEST_PASSWORD, otp: srv.totp(secrets[name]!) });
  assert.equal(res.status, 303, res.text);
  assert.equal(res.location, next);
  assert.ok(b.cookies.has('airlock_session'));
}

const startSsh = (userName: string) =>
  srv.server.browserLogin.logins.start({ kind: 'ssh', userName, clientAddress: '192.0.2.7', connectionRef: 'test' });
const pathOf = (url: string) => new URL(url).pathname;

test('an approval link asks for sign-in, then shows user, client address and code, and approves once', async () => {
  const login = await startSsh('alice');
  assert.match(login.url, new RegExp(`^${srv.url}/login/b/[A-Za-z0-9_-]{43}$`));
  assert.match(login.userCode, /^[A-Z2-9]{4}-[A-Z2-9]{4}$/);
  const b = new Browser();
  const first = await b.get(pathOf(login.url));
  assert.equal(first.status, 303);
  assert.equal(first.location, `/login?next=${encodeURIComponent(pathOf(login.url))}`);
  const signInPage = await b.get(first.location);
  assert.match(signInPage.text, /Sign in as <strong>alice<\/strong>/);
  assert.match(signInPage.text, new RegExp(login.userCode));

  await signIn(b, 'alice', pathOf(login.url));
  const sessionLine = b.setCookieLines.find((l) => l.startsWith('airlock_session='))!;
  assert.match(sessionLine, /HttpOnly/);
  assert.match(sessionLine, /SameSite=Lax/);
  assert.match(sessionLine, /Secure/, 'loopback is a secure context: the cookie is Secure');
  const secret = b.cookies.get('airlock_session')!;
  const stored = await srv.server.core.store.webSessions.byHash(hashLoginSecret(secret));
  assert.ok(stored, 'the session is found by the hash of its secret');
  assert.notEqual(stored.secretHash, secret);

  const page = await b.get(pathOf(login.url));
  assert.equal(page.status, 200);
  assert.match(page.text, /192\.0\.2\.7/);
  assert.match(page.text, new RegExp(`id="user-code">${login.userCode}<`));
  assert.match(page.text, /Approve an SSH login/);

  const approved = await b.post(`${pathOf(login.url)}/approve`, { csrf: b.csrf(), code: login.userCode });
  assert.equal(approved.status, 200, approved.text);
  assert.match(approved.text, /You are now logged in as <strong>alice<\/strong> and should be able to continue in your ssh session/);
  assert.equal(await srv.server.browserLogin.logins.wait(login.id), 'approved');
  const done = await srv.server.browserLogin.logins.complete(login.id);
  assert.ok(done.ok && done.user.name === 'alice' && done.method === 'password+totp');
  assert.deepEqual(await srv.server.browserLogin.logins.complete(login.id), { ok: false, reason: 'already_consumed' });

  const again = await b.post(`${pathOf(login.url)}/approve`, { csrf: b.csrf(), code: login.userCode });
  assert.equal(again.status, 409);
  assert.match(again.text, /already been used/);
  assert.equal((await b.get(pathOf(login.url))).status, 409);
});

test('another user cannot approve: the page says whose login it is, and a forged POST is refused and audited', async () => {
  const login = await startSsh('alice');
  const b = new Browser();
  await signIn(b, 'bob', pathOf(login.url));
  const page = await b.get(pathOf(login.url));
  assert.equal(page.status, 403);
  assert.match(page.text, /This login is for the user <strong>alice<\/strong>, but you are signed in as <strong>bob<\/strong>/);
  assert.doesNotMatch(page.text, /id="approve"/);
  const forged = await b.post(`${pathOf(login.url)}/approve`, { csrf: b.csrf(), code: login.userCode });
  assert.equal(forged.status, 403);
  assert.match(forged.text, /This login is for the user alice/);
  assert.equal(await srv.server.browserLogin.logins.check(login.id), 'pending');
  const audit = await srv.server.core.store.audit.list({ type: 'auth.browser_approval', actor: 'bob' });
  assert.ok(audit.some((e) => e.outcome === 'denied' && e.details.reason === 'wrong_user' && e.details.request === login.id));
});

test('a form naming the code of another request decides nothing', async () => {
  const mine = await startSsh('alice');
  const other = await startSsh('alice');
  const b = new Browser();
  await signIn(b, 'alice');
  const res = await b.post(`${pathOf(mine.url)}/approve`, { csrf: b.csrf(), code: other.userCode });
  assert.equal(res.status, 403);
  assert.match(res.text, /does not belong to this login link/);
  assert.equal(await srv.server.browserLogin.logins.check(mine.id), 'pending');
  assert.equal(await srv.server.browserLogin.logins.check(other.id), 'pending');
});

test('an expired link is refused on the page and on approval', async () => {
  const b = new Browser();
  await signIn(b, 'alice');
  const login = await startSsh('alice');
  clock.advance(srv.server.browserLogin.logins.ttlMs);
  const page = await b.get(pathOf(login.url));
  assert.equal(page.status, 410);
  assert.match(page.text, /expired/);
  const res = await b.post(`${pathOf(login.url)}/approve`, { csrf: b.csrf(), code: login.userCode });
  assert.equal(res.status, 409);
  assert.match(res.text, /expired/);
  assert.equal(await srv.server.browserLogin.logins.wait(login.id), 'expired');
});

test('denying releases the waiter with a refusal', async () => {
  const b = new Browser();
  await signIn(b, 'alice');
  const login = await startSsh('alice');
  const res = await b.post(`${pathOf(login.url)}/deny`, { csrf: b.csrf(), code: login.userCode });
  assert.equal(res.status, 200);
  // A denial is not shown as a success (no green "ok" box), and says what happens to the ssh connection.
  assert.doesNotMatch(res.text, /class="ok"/);
  assert.match(res.text, /<p class="denied" role="status" id="result">You denied this login/);
  assert.match(res.text, /The ssh connection that asked for it is refused and closed/);
  assert.equal(await srv.server.browserLogin.logins.wait(login.id), 'denied');
  assert.deepEqual(await srv.server.browserLogin.logins.complete(login.id), { ok: false, reason: 'denied' });
});

test('a device login (airlock login --browser) shows its code visibly and asks to compare it with the terminal', async () => {
  const login = await srv.server.browserLogin.logins.start({ kind: 'device', userName: 'alice', clientAddress: '192.0.2.8', connectionRef: 'device' });
  const b = new Browser();
  await signIn(b, 'alice', pathOf(login.url));
  const res = await b.get(pathOf(login.url));
  assert.equal(res.status, 200);
  assert.match(res.text, new RegExp(`<span class="code" id="user-code">${login.userCode}</span>`));
  assert.match(res.text, /the code below is the one your terminal shows/);
  assert.match(res.text, /airlock login --browser/);
});

test('CSRF: a POST without the token, with a wrong one, or from another origin is refused', async () => {
  const b = new Browser();
  await signIn(b, 'alice');
  const login = await startSsh('alice');
  const path = `${pathOf(login.url)}/approve`;
  assert.equal((await b.post(path, { code: login.userCode })).status, 403);
  assert.equal((await b.post(path, { csrf: 'x'.repeat(43), code: login.userCode })).status, 403);
  assert.equal((await b.post(path, { csrf: b.csrf(), code: login.userCode }, { origin: 'https://evil.example' })).status, 403);
  assert.equal((await b.post(path, { csrf: b.csrf(), code: login.userCode }, { 'sec-fetch-site': 'cross-site' })).status, 403);
  assert.equal(await srv.server.browserLogin.logins.check(login.id), 'pending');
  const signInWithoutToken = await new Browser().post('/login/password', { user: 'alice', password: TEST_PASSWORD, otp: '000000' });
  assert.equal(signInWithoutToken.status, 403);
});

test('the CSRF cookie is __Host- prefixed (Secure, Path=/, no Domain), and a tossed bare-named cookie is not believed', async () => {
  const b = new Browser();
  await b.get('/login');
  const line = b.setCookieLines.find((l) => l.startsWith('__Host-airlock_csrf='));
  assert.ok(line, b.setCookieLines.join('\n'));
  assert.match(line, /; Secure/);
  assert.match(line, /; Path=\//);
  assert.doesNotMatch(line, /Domain=/i);
  // A sibling host or a man-in-the-middle on plain http can set "airlock_csrf" but never the __Host- one:
  // a form carrying the tossed value is refused.
  const tossed = new Browser();
  tossed.cookies.set('airlock_csrf', 't'.repeat(43));
  assert.equal((await tossed.post('/login/password', { csrf: 't'.repeat(43), user: 'alice', password: TEST_PASSWORD, otp: '000000' })).status, 403);
  // Plain http to a non-loopback host cannot keep a Secure cookie: there (and only there) the bare name.
  assert.equal(csrfCookieName('https://airlock.example.org'), '__Host-airlock_csrf');
  assert.equal(csrfCookieName('http://localhost:8080'), '__Host-airlock_csrf');
  assert.equal(csrfCookieName('http://192.0.2.10:8080'), 'airlock_csrf');
});

test('a wrong password shows the sign-in page again with one generic message; next never leaves the site', async () => {
  const b = new Browser();
  await b.get('/login');
  const res = await b.post('/login/password', { csrf: b.csrf(), next: 'https://evil.example/', user: 'alice', password: 'wrong password here', otp: '123456' });
  assert.equal(res.status, 401);
  assert.match(res.text, /Wrong user name, password or one-time code/);
  assert.match(res.text, /name="next" value="\/"/);
  assert.ok(!b.cookies.has('airlock_session'));
});

test('sign-out ends the session in the database', async () => {
  const b = new Browser();
  await signIn(b, 'alice');
  const secret = b.cookies.get('airlock_session')!;
  const res = await b.post('/logout', { csrf: b.csrf(), next: '/' });
  assert.equal(res.status, 303);
  assert.equal(await srv.server.core.store.webSessions.byHash(hashLoginSecret(secret)), undefined);
});

test('pages forbid framing and scripts and are not cached', async () => {
  const res = await fetch(`${srv.url}/login`);
  assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'.*frame-ancestors 'none'/);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
  await res.text();
});
