/**
 * Browser login inside the SSH session with a local account (password + TOTP on Airlock's own sign-in
 * page), in prompt mode: the session continues when the user presses Enter (answered here by an
 * SSH_ASKPASS program, as no TTY is available). Also: a denial shown in the terminal, a code from
 * another SSH connection refused, and the chain "registered key, then browser" with partial success.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import type { TestSshd } from '../harness/sshd.ts';
import { sshF, startTargetSshd, startTestGateway, writeSshConfig, type TestGateway, type UserKey } from '../harness/gateway.ts';
import { CHROMIUM_SKIP_REASON, launchChromium, type TestBrowser } from '../harness/browser.ts';
import { makeAskpass, sshWithLink } from '../harness/ssh-browser-login.ts';
import { runDetached } from './cli-fixture.ts';
import { TotpCodes } from '../harness/totp-codes.ts';
import { newTotpSecret } from '../../src/identity/totp.ts';

const PASSWORD = 'correct horse battery staple';
let gw: TestGateway;
let node: TestSshd;
let alice: UserKey;
let carol: UserKey;
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
  // A TOTP code is accepted once per user and 30-s step, and at most three steps are valid at a time:
  // a fourth sign-in of one user would wait for the next step. So the sign-ins are spread over users
  // (alice three, bob two, carol and dave one) and no test waits on the wall clock.
  alice = await gw.user('alice');
  await gw.user('bob');
  carol = await gw.user('carol');
  dave = await gw.user('dave');
  const store = gw.server.core.store;
  for (const name of ['alice', 'bob', 'carol', 'dave']) {
    // A TOTP secret the test knows (enrolment made one it does not keep).
    totp[name] = newTotpSecret();
    await store.users.update((await store.users.byName(name))!.id, { totpSecret: totp[name] });
  }
  const daveUser = (await store.users.byName('dave'))!;
  await gw.server.core.keyRegistry.add({ id: daveUser.id, name: 'dave' }, readFileSync(dave.pub, 'utf8'), { name: 'test', clientAddress: null });
  await gw.project('genomics', ['alice', 'carol']);
  node = await startTargetSshd(gw, ['alice', 'carol']);
  await gw.target({ name: 'vm1', project: 'genomics', host: '127.0.0.1', port: node.port, loginUser: 'root' });
  const [type, b64] = node.hostKeyPub.split(' ');
  appendFileSync(gw.knownHosts, `[vm1]:${node.port} ${type} ${b64}\n`);
  const browserOnly = ['PubkeyAuthentication no', 'PreferredAuthentications keyboard-interactive', 'BatchMode no', 'LogLevel INFO'];
  cfg = writeSshConfig(join(gw.dir, 'ssh_config'), gw.knownHosts, [
    { alias: 'gw', hostName: gw.host, port: gw.port, user: 'alice', extra: browserOnly },
    { alias: 'gw-bob', hostName: gw.host, port: gw.port, user: 'bob', extra: browserOnly },
    // ConnectTimeout covers the target's banner, which arrives only after the browser approval at the jump.
    { alias: 'vm1', hostName: 'vm1', port: node.port, user: 'root', key: alice, proxyJump: 'gw', extra: ['ConnectTimeout 180'] },
    // dave: his registered key (no certificate) first, then the browser.
    { alias: 'gw-dave', hostName: gw.host, port: gw.port, user: 'dave', extra: [`IdentityFile ${dave.key}`, 'CertificateFile none', 'IdentitiesOnly yes', 'PreferredAuthentications publickey,keyboard-interactive', 'BatchMode no', 'LogLevel VERBOSE'] },
    { alias: 'gw-dave-cert', hostName: gw.host, port: gw.port, user: 'dave', key: dave, extra: ['PreferredAuthentications publickey'] },
    // alice with her certificate too, the browser login tried first: after a denial OpenSSH would go on to the certificate.
    { alias: 'gw-both', hostName: gw.host, port: gw.port, user: 'alice', key: alice, extra: ['PreferredAuthentications keyboard-interactive,publickey', 'BatchMode no', 'LogLevel INFO'] },
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
  assert.match(r.stderr, /Login denied in the browser\. This connection is closed: no other login method is tried on it\./);
  assert.equal((await gw.audit('gateway.auth')).filter((e) => e.details.reason === 'denied').at(-1)?.actor, 'alice');
});

test('a denial in the browser ends the connection: the certificate that ssh tries next does not log it in', { skip }, async () => {
  const askpass = makeAskpass(gw.dir);
  const before = (await gw.audit('gateway.auth')).length;
  const r = await sshWithLink(cfg, ['gw-both', 'hosts'], async (url, code) => {
    await decideWithPassword(url, code, 'alice', 'deny');
    askpass.answer('');
  }, { env: askpass.env });
  assert.equal(r.code, 255, r.stdout + r.stderr);
  assert.match(r.stderr, /Login denied in the browser\. This connection is closed/);
  assert.doesNotMatch(r.stdout, /signed in as alice/);
  const after = (await gw.audit('gateway.auth')).slice(before);
  assert.ok(after.some((e) => e.details.reason === 'denied'));
  assert.ok(!after.some((e) => e.outcome === 'success'), JSON.stringify(after.map((e) => [e.outcome, e.details])));
  // The certificate alone still works on a new connection (the denial was for that connection only).
  const direct = await sshF(cfg, ['-o', 'PreferredAuthentications=publickey', 'gw-both', 'hosts']);
  assert.equal(direct.code, 0, direct.stderr);
});

test('ssh without a terminal: no loop of "Not approved yet", the session waits for the approval and continues', { skip }, async () => {
  // No TTY and no askpass: OpenSSH answers every prompt at once with an empty line.
  const r = await sshWithLink(cfg, ['gw-bob', 'hosts'], async (url, code) => {
    await decideWithPassword(url, code, 'bob', 'approve');
  }, { env: { SSH_ASKPASS: '', SSH_ASKPASS_REQUIRE: 'never', DISPLAY: '' } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /signed in as bob through a browser login/);
  assert.match(r.stderr, /No one can press Enter here \(ssh has no terminal\), so this session now waits for your approval/);
  assert.ok((r.stderr.match(/Not approved yet/g) ?? []).length <= 2, r.stderr);
});

test('a code from another SSH connection is refused, and approving that connection does not release this one', { skip }, async () => {
  const askA = makeAskpass(gw.dir);
  const askB = makeAskpass(gw.dir);
  let codeB: (v: string) => void = () => undefined;
  const codeOfB = new Promise<string>((resolve) => (codeB = resolve));
  const a = sshWithLink(cfg, ['gw-bob', 'true'], async () => {
    // A's user types B's code (e.g. copied from the wrong terminal) after B was approved.
    askA.answer(await codeOfB);
  }, { env: askA.env });
  const b = sshWithLink(cfg, ['gw-bob', 'hosts'], async (url, code) => {
    await decideWithPassword(url, code, 'bob', 'approve');
    codeB(code);
    askB.answer('');
  }, { env: askB.env });
  const [ra, rb] = await Promise.all([a, b]);
  assert.equal(rb.code, 0, rb.stderr);
  assert.match(rb.stdout, /signed in as bob through a browser login/);
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

test("the DSP guide's own config (top-level ControlMaster/ControlPersist, an Included file) shows the link, once per master", { skip }, async () => {
  // The seed's "Nicer configuration", verbatim but for addresses: ControlPersist applies to the target
  // too, so ssh sends its ProxyJump hop's stderr — and the prompt's instructions — to /dev/null.
  // Only the prompt itself reaches the person (through /dev/tty; here through SSH_ASKPASS).
  const home = join(gw.dir, 'dsp');
  mkdirSync(join(home, '.ssh'), { recursive: true, mode: 0o700 });
  const dspConfig = join(home, '.ssh', 'dsp_config');
  writeFileSync(dspConfig, [
    'ControlMaster auto', 'ControlPersist 1800', `ControlPath ${join(home, '.ssh', 'socket-%r@%h-%p')}`, '',
    'Host dspgateway', `  Hostname ${gw.host}`, `  Port ${gw.port}`, '  User carol',
    `  UserKnownHostsFile ${gw.knownHosts}`, '  PubkeyAuthentication no', '',
    'Host vm*', '  ProxyJump dspgateway', '  User root', `  Port ${node.port}`,
    `  IdentityFile ${carol.key}`, `  CertificateFile ${carol.cert}`, `  UserKnownHostsFile ${gw.knownHosts}`, '',
  ].join('\n'));
  // The guide's `Include dsp_config` is relative to the passwd entry's ~/.ssh, not this HOME: absolute here.
  const main = join(home, '.ssh', 'config');
  writeFileSync(main, `Include ${dspConfig}\n`);
  const askpass = makeAskpass(gw.dir);
  const env = { ...process.env, HOME: home, SSH_AUTH_SOCK: '', ...askpass.env };
  const ssh = (args: string[]) => runDetached('ssh', ['-F', main, ...args], env, 120_000);
  try {
    const first = ssh(['vm1', 'echo reached-$(id -un)']);
    let prompt: RegExpExecArray | null = null;
    // Bounded: the prompt appears once the hop has asked (the askpass itself gives up after 60 s).
    for (let i = 0; i < 600 && prompt === null; i++) {
      prompt = /^Open (http:\/\/\S+\/login\/b\/[A-Za-z0-9_-]{43}) in your browser, approve code ([A-Z2-9]{4}-[A-Z2-9]{4}), then press Enter: $/m.exec(askpass.prompts().replace(/^\([^)]*\) /gm, ''));
      if (prompt === null) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(prompt, `the prompt carries the link and code: ${askpass.prompts()}`);
    await decideWithPassword(prompt[1]!, prompt[2]!, 'carol', 'approve');
    askpass.answer('');
    const r = await first;
    assert.equal(r.code, 0, r.stderr + node.logs());
    assert.match(r.stdout, /reached-root/);
    assert.doesNotMatch(r.stderr, /login\/b\//, "the hop's stderr (the instructions) never reached the person");
    // The comfort the guide asks for: the master carries the next connections without a new approval.
    const prompts = askpass.prompts();
    const again = await ssh(['vm2', 'echo again']);
    assert.equal(again.code, 255, 'vm2 is not a target (a new channel over the master, not a new login)');
    assert.equal(askpass.prompts(), prompts, 'no second browser login');
  } finally {
    for (const host of ['vm1', 'dspgateway']) await ssh(['-O', 'exit', host]).catch(() => undefined);
  }
});
