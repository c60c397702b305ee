/**
 * Browser login inside the SSH session with a local account (password + TOTP on Airlock's own sign-in
 * page), in prompt mode: the session continues when the user presses Enter (answered here by an
 * SSH_ASKPASS program, as no TTY is available). Also: a denial shown in the terminal, a code from
 * another SSH connection refused, and the chain "registered key, then browser" with partial success.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import type { TestSshd } from '../harness/sshd.ts';
import { sshF, startTargetSshd, startTestGateway, writeSshConfig, type TestGateway, type UserKey } from '../harness/gateway.ts';
import { CHROMIUM_SKIP_REASON, launchChromium, type TestBrowser } from '../harness/browser.ts';
import { makeAskpass, sshWithLink } from '../harness/ssh-browser-login.ts';
import { TotpCodes } from '../harness/totp-codes.ts';
import { newTotpSecret } from '../../src/identity/totp.ts';

const PASSWORD = 'correct horse battery staple';
let gw: TestGateway;
let node: TestSshd;
let alice: UserKey;
let dave: UserKey;
let chrome: TestBrowser;
let cfg: string;
const totp: Record<string, string> = {};
const contexts: BrowserContext[] = [];
const skip = CHROMIUM_SKIP_REASON;

before(async () => {
  if (skip) return;
  gw = await startTestGateway({
    AIRLOCK_GATEWAY_AUTH: 'certificate,browser', AIRLOCK_GATEWAY_AUTH_USERS: 'dave=publickey+browser', AIRLOCK_GATEWAY_BROWSER_PROMPT: 'enter',
    AIRLOCK_GATEWAY_ALLOW_LOOPBACK_TARGETS: '1', AIRLOCK_GATEWAY_PENALTIES: 'off',
  });
  alice = await gw.user('alice');
  dave = await gw.user('dave');
  const store = gw.server.core.store;
  for (const name of ['alice', 'dave']) {
    // A TOTP secret the test knows (enrolment made one it does not keep).
    totp[name] = newTotpSecret();
    await store.users.update((await store.users.byName(name))!.id, { totpSecret: totp[name] });
  }
  const daveUser = (await store.users.byName('dave'))!;
  await gw.server.core.keyRegistry.add({ id: daveUser.id, name: 'dave' }, readFileSync(dave.pub, 'utf8'), { name: 'test', clientAddress: null });
  await gw.project('genomics', ['alice']);
  node = await startTargetSshd(gw, ['alice']);
  await gw.target({ name: 'vm1', project: 'genomics', host: '127.0.0.1', port: node.port, loginUser: 'root' });
  const [type, b64] = node.hostKeyPub.split(' ');
  appendFileSync(gw.knownHosts, `[vm1]:${node.port} ${type} ${b64}\n`);
  const browserOnly = ['PubkeyAuthentication no', 'PreferredAuthentications keyboard-interactive', 'BatchMode no', 'LogLevel INFO'];
  cfg = writeSshConfig(join(gw.dir, 'ssh_config'), gw.knownHosts, [
    { alias: 'gw', hostName: gw.host, port: gw.port, user: 'alice', extra: browserOnly },
    // ConnectTimeout covers the target's banner, which arrives only after the browser approval at the jump.
    { alias: 'vm1', hostName: 'vm1', port: node.port, user: 'root', key: alice, proxyJump: 'gw', extra: ['ConnectTimeout 180'] },
    // dave: his registered key (no certificate) first, then the browser.
    { alias: 'gw-dave', hostName: gw.host, port: gw.port, user: 'dave', extra: [`IdentityFile ${dave.key}`, 'CertificateFile none', 'IdentitiesOnly yes', 'PreferredAuthentications publickey,keyboard-interactive', 'BatchMode no', 'LogLevel VERBOSE'] },
    { alias: 'gw-dave-cert', hostName: gw.host, port: gw.port, user: 'dave', key: dave, extra: ['PreferredAuthentications publickey'] },
  ]);
  chrome = await launchChromium();
});

after(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await chrome?.close();
  await node?.stop();
  await gw?.stop();
});

// A code for a time step this user has not used yet (a code is accepted once), without waiting for one.
const codes = new TotpCodes(() => gw.server.core.clock.now());

/** Signs in with password + TOTP on the page the link leads to, then approves or denies. */
async function decideWithPassword(url: string, code: string, name: string, decision: 'approve' | 'deny'): Promise<void> {
  const context = await chrome.context();
  contexts.push(context);
  const page = await context.newPage();
  await page.goto(url);
  assert.match(page.url(), /\/login\?next=/);
  assert.equal(await page.inputValue('#user'), name, 'the sign-in page is for the user the SSH session asked for');
  await page.fill('#password', PASSWORD);
  await page.fill('#otp', await codes.next(totp[name]!));
  await page.click('#sign-in');
  await page.waitForURL(url);
  assert.equal(await page.locator('#user-code').textContent(), code);
  await page.click(`#${decision}`);
  await page.locator('#result, .ok').first().waitFor();
}

test('password + TOTP in the browser, Enter in the terminal: ssh -J reaches the target', { skip }, async () => {
  const askpass = makeAskpass(gw.dir);
  const r = await sshWithLink(cfg, ['vm1', 'echo reached-$(id -un)'], async (url, code) => {
    await decideWithPassword(url, code, 'alice', 'approve');
    askpass.answer('');
  }, { env: askpass.env });
  assert.ok(r.linkSeen, r.stderr);
  assert.equal(r.code, 0, r.stderr + node.logs());
  assert.match(r.stdout, /reached-root/);
  assert.match(r.stderr, /Then press Enter here/);
  const auth = (await gw.audit('gateway.auth')).filter((e) => e.outcome === 'success' && e.details.method === 'browser');
  assert.equal(auth.at(-1)?.details.approved_with, 'password+totp');
});

test('a denial in the browser is shown in the terminal and the login fails', { skip }, async () => {
  const askpass = makeAskpass(gw.dir);
  const r = await sshWithLink(cfg, ['gw', 'true'], async (url, code) => {
    await decideWithPassword(url, code, 'alice', 'deny');
    askpass.answer('');
  }, { env: askpass.env });
  assert.equal(r.code, 255);
  assert.match(r.stderr, /Login denied in the browser\./);
  assert.match(r.stderr, /Permission denied/);
  assert.equal((await gw.audit('gateway.auth')).filter((e) => e.details.reason === 'denied').at(-1)?.actor, 'alice');
});

test('a code from another SSH connection is refused, and approving that connection does not release this one', { skip }, async () => {
  const askA = makeAskpass(gw.dir);
  const askB = makeAskpass(gw.dir);
  let codeB: (v: string) => void = () => undefined;
  const codeOfB = new Promise<string>((resolve) => (codeB = resolve));
  const a = sshWithLink(cfg, ['gw', 'true'], async () => {
    // A's user types B's code (e.g. copied from the wrong terminal) after B was approved.
    askA.answer(await codeOfB);
  }, { env: askA.env });
  const b = sshWithLink(cfg, ['gw', 'hosts'], async (url, code) => {
    await decideWithPassword(url, code, 'alice', 'approve');
    codeB(code);
    askB.answer('');
  }, { env: askB.env });
  const [ra, rb] = await Promise.all([a, b]);
  assert.equal(rb.code, 0, rb.stderr);
  assert.match(rb.stdout, /signed in as alice through a browser login/);
  assert.equal(ra.code, 255, ra.stderr);
  assert.match(ra.stderr, /That code belongs to another login, not to this connection/);
  assert.ok((await gw.audit('gateway.auth')).some((e) => e.details.reason === 'code_mismatch'));
});

test('key then browser: the registered key succeeds partially, the browser login completes it; the key alone does not', { skip }, async () => {
  const askpass = makeAskpass(gw.dir);
  const r = await sshWithLink(cfg, ['gw-dave'], async (url, code) => {
    await decideWithPassword(url, code, 'dave', 'approve');
    askpass.answer('');
  }, { env: askpass.env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /Authenticated using "publickey" with partial success/);
  assert.match(r.stdout, /signed in as dave with a registered key/);
  const success = (await gw.audit('gateway.auth')).filter((e) => e.actor === 'dave' && e.outcome === 'success');
  assert.deepEqual(success.slice(-2).map((e) => [e.details.method, e.details.partial ?? null]), [['publickey', true], ['publickey+browser', null]]);

  // dave's certificate alone is not a chain he may use.
  const certOnly = await sshF(cfg, ['gw-dave-cert', 'true']);
  assert.equal(certOnly.code, 255);
  assert.ok((await gw.audit('gateway.auth')).some((e) => e.actor === 'dave' && e.details.reason === 'chain_not_allowed'));
});
