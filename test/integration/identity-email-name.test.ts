/**
 * An institution's identity name end to end (issue 11 item 5): the OIDC provider names the user
 * `Bob@Uni.Example` (an e-mail style preferred_username, as Life Science Login does) and puts them in a
 * group the operator mapped to a project. Through the stock ssh client's browser login, the gateway
 * signs in `bob@uni.example` (the authorization request asked for the `groups` scope by itself), the
 * group makes Bob a project member, `ssh gw cert` certifies a key for the principals `bob@uni.example`
 * and `bob_uni.example`, and `ssh -J bob@uni.example@127.0.0.1:PORT root@vm1` (OpenSSH splits
 * user@host at the last "@") reaches a real sshd that maps the principal bob_uni.example to its account.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { run } from '../harness/processes.ts';
import { sshWithLink } from '../harness/ssh-browser-login.ts';
import type { TestSshd } from '../harness/sshd.ts';
import { sshF, startTargetSshd, startTestGateway, writeKeyPair, writeSshConfig, type TestGateway } from '../harness/gateway.ts';
import { startOidcProvider, type TestOidcProvider } from '../harness/oidc-provider.ts';
import { CHROMIUM_SKIP_REASON, launchChromium, type TestBrowser } from '../harness/browser.ts';

let idp: TestOidcProvider;
let gw: TestGateway;
let node: TestSshd;
let chrome: TestBrowser;
let cfg: string;
const contexts: BrowserContext[] = [];
const authorizationRequests: URL[] = [];
const skip = CHROMIUM_SKIP_REASON;

before(async () => {
  if (skip) return;
  idp = await startOidcProvider();
  gw = await startTestGateway({
    AIRLOCK_GATEWAY_AUTH: 'certificate,browser', AIRLOCK_GATEWAY_BROWSER_PROMPT: 'none',
    AIRLOCK_GATEWAY_ALLOW_LOOPBACK_TARGETS: '1', AIRLOCK_GATEWAY_PENALTIES: 'off',
    AIRLOCK_OIDC_ISSUER: idp.issuer, AIRLOCK_OIDC_CLIENT_ID: idp.clientId, AIRLOCK_OIDC_CLIENT_SECRET: idp.clientSecret,
    // The operator maps a group and leaves AIRLOCK_OIDC_SCOPES at its default (no "groups").
    AIRLOCK_OIDC_GROUP_PROJECTS: 'genomics-team=genomics',
  });
  idp.attach(`${gw.server.httpUrl}/login/oidc/callback`);
  idp.accounts.set('bob-at-idp', { username: 'Bob@Uni.Example', groups: ['genomics-team'] });
  await gw.project('genomics', []);
  // The node's root account accepts the principal the e-mail name maps to (AuthorizedPrincipalsFile).
  node = await startTargetSshd(gw, ['bob_uni.example']);
  await gw.target({ name: 'vm1', project: 'genomics', host: '127.0.0.1', port: node.port, loginUser: 'root' });
  const [type, b64] = node.hostKeyPub.split(' ');
  appendFileSync(gw.knownHosts, `[vm1]:${node.port},[127.0.0.1]:${node.port} ${type} ${b64}\n`);
  cfg = writeSshConfig(join(gw.dir, 'ssh_config'), gw.knownHosts, [{
    alias: 'gw', hostName: gw.host, port: gw.port, user: 'bob@uni.example',
    extra: ['PubkeyAuthentication no', 'PreferredAuthentications keyboard-interactive', 'BatchMode no', 'LogLevel INFO',
      'ControlMaster auto', `ControlPath ${join(gw.dir, 'cm-%C')}`, 'ControlPersist 120'],
  }]);
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

/** Signs in at the provider as `login` from the approval link, recording the authorization request, and approves. */
async function approveWithIdp(url: string, code: string, login: string): Promise<void> {
  const context = await chrome.context();
  contexts.push(context);
  const page = await context.newPage();
  page.on('request', (req) => {
    const u = new URL(req.url());
    if (u.origin === idp.issuer && u.pathname === '/auth') authorizationRequests.push(u);
  });
  await page.goto(url);
  await page.click('#oidc');
  await page.waitForURL((u) => u.href.startsWith(idp.issuer));
  await page.fill('input[name=login]', login);
  await page.fill('input[name=password]', 'any');
  await page.click('button[type=submit]');
  await page.locator('button:has-text("Continue")').click();
  await page.waitForURL(url);
  assert.equal(await page.locator('#user-code').textContent(), code);
  await page.click('#approve');
  assert.match(await page.locator('#result').textContent() ?? '', /You are now logged in as bob@uni\.example/);
}

test('an e-mail style OIDC user signs in at the gateway, joins the mapped project and reaches a target with the real ssh', { skip }, async () => {
  const key = writeKeyPair(join(gw.dir, 'bob_ed25519'));
  const r = await sshWithLink(cfg, ['gw', 'cert'], (url, code) => approveWithIdp(url, code, 'bob-at-idp'), { input: readFileSync(`${key}.pub`, 'utf8') });
  assert.ok(r.linkSeen, r.stderr);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /To log in as bob@uni\.example, open this link/);

  const scope = authorizationRequests.at(-1)?.searchParams.get('scope')?.split(' ') ?? [];
  assert.ok(scope.includes('groups'), `the authorization request asks for the groups scope by itself: ${scope.join(' ')}`);
  const user = await gw.server.core.store.users.byName('bob@uni.example');
  assert.ok(user, 'the folded e-mail name is the Airlock user');
  assert.deepEqual((await gw.server.core.store.projects.projectsOfUser(user.id)).map((p) => [p.name, p.role]), [['genomics', 'member']], 'the mapped group made Bob a member');

  writeFileSync(`${key}-cert.pub`, r.stdout);
  const listed = await run('ssh-keygen', ['-L', '-f', `${key}-cert.pub`]);
  assert.match(listed.stdout, /Principals: \n\s+bob@uni\.example\n\s+bob_uni\.example\n/, listed.stdout);
  assert.match(listed.stdout, /Key ID: "[^"]*:bob@uni\.example"/);

  // The command line the lobby prints: -J with the e-mail user; ssh must split at the last "@".
  const direct = writeSshConfig(join(gw.dir, 'ssh_config_cert'), gw.knownHosts, [], [`IdentityFile ${key}`, `CertificateFile ${key}-cert.pub`, 'IdentitiesOnly yes']);
  const reached = await sshF(direct, ['-J', `bob@uni.example@${gw.host}:${gw.port}`, '-p', String(node.port), 'root@vm1', 'echo reached-$(id -un)']);
  assert.equal(reached.code, 0, reached.stderr + node.logs());
  assert.match(reached.stdout, /reached-root/);
  assert.match(node.logs(), /Accepted publickey for root .* ID [^ ]*:bob@uni\.example/);
  const auth = (await gw.audit('gateway.auth')).filter((e) => e.outcome === 'success' && e.details.method === 'certificate');
  assert.equal(auth.at(-1)?.actor, 'bob@uni.example');

  const lobby = await sshF(direct, ['-p', String(gw.port), `bob@uni.example@${gw.host}`]);
  assert.equal(lobby.code, 0, lobby.stderr);
  assert.match(lobby.stdout, new RegExp(`ssh -J bob@uni\\.example@${gw.host.replaceAll('.', '\\.')}:${gw.port} -p ${node.port} root@vm1`));
});
