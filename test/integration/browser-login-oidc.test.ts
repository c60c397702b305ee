/**
 * Browser login inside the SSH session, end to end with stock OpenSSH, a real Chromium, a real OIDC
 * provider (oidc-provider in this process) and a real sshd target: `ssh -J alice@gateway target` prints
 * the link; the browser signs in at the provider and approves; the session reaches the target without a
 * keypress (zero-prompt mode). With ControlMaster a second `ssh` needs no new approval, and
 * `ssh gateway cert` turns a fresh key into a certificate that ssh-keygen -L reads and the sshd trusts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { run } from '../harness/processes.ts';
import { sshWithLink } from '../harness/ssh-browser-login.ts';
import type { TestSshd } from '../harness/sshd.ts';
import { sshF, startTargetSshd, startTestGateway, writeKeyPair, writeSshConfig, type TestGateway, type UserKey } from '../harness/gateway.ts';
import { startOidcProvider, type TestOidcProvider } from '../harness/oidc-provider.ts';
import { CHROMIUM_SKIP_REASON, launchChromium, type TestBrowser } from '../harness/browser.ts';

let idp: TestOidcProvider;
let gw: TestGateway;
let node: TestSshd;
let alice: UserKey;
let chrome: TestBrowser;
let cfg: string;
const contexts: BrowserContext[] = [];
const skip = CHROMIUM_SKIP_REASON;

before(async () => {
  if (skip) return;
  idp = await startOidcProvider();
  gw = await startTestGateway({
    AIRLOCK_GATEWAY_AUTH: 'certificate,browser', AIRLOCK_GATEWAY_BROWSER_PROMPT: 'none',
    AIRLOCK_GATEWAY_ALLOW_LOOPBACK_TARGETS: '1', AIRLOCK_GATEWAY_PENALTIES: 'off',
    AIRLOCK_OIDC_ISSUER: idp.issuer, AIRLOCK_OIDC_CLIENT_ID: idp.clientId, AIRLOCK_OIDC_CLIENT_SECRET: idp.clientSecret,
    AIRLOCK_OIDC_DISPLAY_NAME: 'Test IdP',
  });
  idp.attach(`${gw.server.httpUrl}/login/oidc/callback`);
  idp.accounts.set('alice-at-idp', { username: 'alice' });
  alice = await gw.user('alice');
  await gw.project('genomics', ['alice']);
  node = await startTargetSshd(gw, ['alice']);
  await gw.target({ name: 'vm1', project: 'genomics', host: '127.0.0.1', port: node.port, loginUser: 'root' });
  const [type, b64] = node.hostKeyPub.split(' ');
  appendFileSync(gw.knownHosts, `[vm1]:${node.port},[127.0.0.1]:${node.port} ${type} ${b64}\n`);
  // The gateway hop logs in with the browser only (no key offered), keeps a master connection, and
  // shows the instructions (LogLevel INFO); the target trusts alice's certificate.
  cfg = writeSshConfig(join(gw.dir, 'ssh_config'), gw.knownHosts, [
    {
      alias: 'gw', hostName: gw.host, port: gw.port, user: 'alice',
      extra: ['PubkeyAuthentication no', 'PreferredAuthentications keyboard-interactive', 'BatchMode no', 'LogLevel INFO',
        'ControlMaster auto', `ControlPath ${join(gw.dir, 'cm-%C')}`, 'ControlPersist 120'],
    },
    // ConnectTimeout covers the target's banner, which arrives only after the browser approval at the jump.
    { alias: 'vm1', hostName: 'vm1', port: node.port, user: 'root', key: alice, proxyJump: 'gw', extra: ['ConnectTimeout 180'] },
  ]);
  chrome = await launchChromium();
});

after(async () => {
  if (cfg) await sshF(cfg, ['-O', 'exit', 'gw']).catch(() => undefined);
  for (const c of contexts) await c.close().catch(() => undefined);
  await chrome?.close();
  await node?.stop();
  await gw?.stop();
  await idp?.stop();
});

/** Opens the link in a fresh browser, signs in at the provider as `login`, checks the code and approves. */
async function approveWithIdp(url: string, code: string, login: string): Promise<void> {
  const context = await chrome.context();
  contexts.push(context);
  const page = await context.newPage();
  await page.goto(url);
  await page.click('#oidc');
  await page.waitForURL((u) => u.href.startsWith(idp.issuer));
  await page.fill('input[name=login]', login);
  await page.fill('input[name=password]', 'any');
  await page.click('button[type=submit]');
  await page.locator('button:has-text("Continue")').click();
  await page.waitForURL(url);
  assert.equal(await page.locator('#user-code').textContent(), code, 'the page shows the code the terminal shows');
  assert.match(await page.content(), /127\.0\.0\.1/, 'and the SSH client address');
  await page.click('#approve');
  assert.match(await page.locator('#result').textContent() ?? '', /You are now logged in as alice and should be able to continue in your ssh session/);
}

test('ssh -J prints the link; Chromium signs in at the OIDC provider and approves; the session reaches the target', { skip }, async () => {
  const r = await sshWithLink(cfg, ['vm1', 'echo reached-$(id -un)'], (url, code) => approveWithIdp(url, code, 'alice-at-idp'));
  assert.ok(r.linkSeen, r.stderr);
  assert.equal(r.code, 0, r.stderr + node.logs());
  assert.match(r.stdout, /reached-root/);
  assert.match(r.stderr, /Airlock browser login/);
  assert.match(r.stderr, /To log in as alice, open this link in your browser/);
  const auth = (await gw.audit('gateway.auth')).filter((e) => e.outcome === 'success' && e.details.method === 'browser');
  assert.equal(auth.at(-1)?.actor, 'alice');
  assert.equal(auth.at(-1)?.details.approved_with, 'oidc');

  await test('with ControlMaster a second ssh needs no new approval', async () => {
    const again = await sshF(cfg, ['vm1', 'echo again-$(id -un)'], { timeoutMs: 30_000 });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /again-root/);
    assert.doesNotMatch(again.stderr, /login\/b\//, 'no new link');
    const lobby = await sshF(cfg, ['gw']);
    assert.match(lobby.stdout, /signed in as alice through a browser login/);
  });

  await test('ssh gw cert turns a fresh key into a certificate that ssh-keygen -L reads and the sshd trusts', async () => {
    const key = writeKeyPair(join(gw.dir, 'fresh_ed25519'));
    const cert = await sshF(cfg, ['gw', 'cert'], { input: readFileSync(`${key}.pub`, 'utf8') });
    assert.equal(cert.code, 0, cert.stderr);
    assert.match(cert.stdout, /^ssh-ed25519-cert-v01@openssh\.com \S+/);
    assert.match(cert.stderr, /Certificate \d+ for alice, valid until/);
    writeFileSync(`${key}-cert.pub`, cert.stdout);
    const listed = await run('ssh-keygen', ['-L', '-f', `${key}-cert.pub`]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /Type: ssh-ed25519-cert-v01@openssh.com user certificate/);
    assert.match(listed.stdout, /Principals: \n\s+alice\n/);
    const login = await run('ssh', [
      '-F', '/dev/null', '-o', 'BatchMode=yes', '-o', `UserKnownHostsFile=${gw.knownHosts}`, '-o', 'GlobalKnownHostsFile=/dev/null',
      '-i', key, '-o', `CertificateFile=${key}-cert.pub`, '-o', 'IdentitiesOnly=yes', '-p', String(node.port), 'root@127.0.0.1', 'echo cert-login-$(id -un)',
    ], { env: { ...process.env, SSH_AUTH_SOCK: '' } });
    assert.equal(login.code, 0, login.stderr + node.logs());
    assert.match(login.stdout, /cert-login-root/);
    const record = (await gw.server.core.store.certificates.listByUser((await gw.server.core.store.users.byName('alice'))!.id))[0]!;
    assert.equal(record.method, 'browser', 'the ledger records how the certificate was obtained');
    const bad = await sshF(cfg, ['gw', 'cert'], { input: 'not a key\n' });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /Usage: ssh USER@GATEWAY cert/);
  });
});

test('ssh -o BatchMode=yes never runs the browser login: it fails at once with no link', { skip }, async () => {
  const r = await run('ssh', ['-F', cfg, '-o', 'BatchMode=yes', '-o', 'ControlPath=none', '-p', String(gw.port), 'alice@127.0.0.1', 'true'], { env: { ...process.env, SSH_AUTH_SOCK: '' } });
  assert.equal(r.code, 255);
  assert.match(r.stderr, /Permission denied \(publickey,keyboard-interactive\)/);
  assert.doesNotMatch(r.stderr, /login\/b\//);
});
