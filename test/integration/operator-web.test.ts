/**
 * The operator pages in real Chromium (issue 12 items 8–12, "Done when"): an operator adds a user
 * (QR and recovery codes shown once), grants and removes the admin role, resets TOTP, manages a
 * project's members and targets, creates and revokes an API token, revokes a certificate (ssh-keygen
 * -Q then finds it in the KRL the page reports), filters, pages and exports the audit log, and ends a
 * researcher's live `ssh -J` session through the gateway from the connections page, then disables
 * them. A researcher is refused every operator page (direct URL) and every action (a forged POST
 * carrying their own valid CSRF token), and nothing changes. axe-core finds no serious or critical
 * violation on any page, the CSP reports nothing; screenshots go to docs/screenshots/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Page, BrowserContext } from 'playwright-core';
import { CHROMIUM_SKIP_REASON, launchChromium, type TestBrowser } from '../harness/browser.ts';
import { startTargetSshd, startTestGateway, writeSshConfig, type TestGateway } from '../harness/gateway.ts';
import { run, waitFor } from '../harness/processes.ts';
import { holdSshSession } from '../harness/held-ssh-session.ts';
import { assertAccessible, screenshot, watchCsp } from '../harness/portal.ts';
import { currentTotp } from '../../src/identity/totp.ts';
import { SSHD } from '../harness/sshd.ts';

const OPS = { name: 'ops', clientAddress: null };
const PASSWORD = 'operator pages test password';

async function signIn(ctx: BrowserContext, base: string, name: string, totpUri: string): Promise<Page> {
  const page = await ctx.newPage();
  await page.goto(`${base}/login`);
  await page.fill('#user', name);
  await page.fill('#password', PASSWORD);
  await page.fill('#otp', currentTotp(new URL(totpUri).searchParams.get('secret')!, Date.now()));
  await Promise.all([page.waitForNavigation(), page.click('#sign-in')]);
  return page;
}

test('operators run Airlock from the browser; researchers are refused every operator page and action', { skip: CHROMIUM_SKIP_REASON ?? (SSHD ? undefined : 'sshd is not installed'), timeout: 300_000 }, async () => {
  let gw: TestGateway | undefined;
  let browser: TestBrowser | undefined;
  let node: Awaited<ReturnType<typeof startTargetSshd>> | undefined;
  let kill: (() => void) | undefined;
  try {
    gw = await startTestGateway({ AIRLOCK_GATEWAY_ALLOW_LOOPBACK_TARGETS: '1', AIRLOCK_GATEWAY_PENALTIES: 'off' });
    const core = gw.server.core;
    const base = gw.server.httpUrl;
    const ops = await core.userAdmin.add({ name: 'ops', email: 'ops@example.org', admin: true, password: PASSWORD }, OPS);
    const rita = await core.userAdmin.add({ name: 'rita', email: 'rita@example.org', admin: false, password: PASSWORD }, OPS);
    node = await startTargetSshd(gw, ['hal']);
    const hal = await gw.user('hal');
    await gw.project('genomics', ['hal', 'rita']);
    await gw.target({ name: 'job-hal', project: 'genomics', host: '127.0.0.1', port: node.port, loginUser: 'root' });
    // A second certificate of hal's key, revoked from the page below; certify() writes hal's certificate file, so keep both apart.
    const halCert = readFileSync(hal.cert, 'utf8');
    const issued = await gw.certify(hal);
    const extra = { serial: issued.serial, cert: join(gw.dir, 'extra-cert.pub') };
    writeFileSync(extra.cert, readFileSync(hal.cert, 'utf8'));
    writeFileSync(hal.cert, halCert, { mode: 0o600 });

    browser = await launchChromium();
    const opsCtx = await browser.context();
    const page = await signIn(opsCtx, base, 'ops', ops.totpUri);
    const csp = watchCsp(page);
    const check = async (name: string) => {
      await assertAccessible(page, name);
      await screenshot(page, `operator-${name}`);
    };

    // ---- item 8: users ----
    await page.goto(`${base}/admin/users`);
    assert.equal(await page.locator('#users tbody tr').count(), 3);
    await page.fill('#q', 'rita@');
    await Promise.all([page.waitForNavigation(), page.click('#search')]);
    assert.deepEqual(await page.locator('#users tbody td:first-child').allTextContents(), ['rita']);
    await page.goto(`${base}/admin/users`);
    await check('users');
    await page.fill('#new-name', 'newbie');
    await page.fill('#new-email', 'newbie@example.org');
    await page.fill('#new-password', 'newbie first password 1');
    await Promise.all([page.waitForNavigation(), page.click('#add-user')]);
    assert.match(await page.locator('#totp-uri').textContent() ?? '', /^otpauth:\/\/totp\/.*newbie/);
    assert.equal((await page.locator('#recovery-codes').textContent())!.trim().split('\n').length, 10);
    assert.equal(await page.locator('.qr svg').count(), 1);
    await check('user-added');
    assert.ok(await core.store.users.byName('newbie'));

    await page.goto(`${base}/admin/users/newbie`);
    await Promise.all([page.waitForNavigation(), page.click('#grant-admin')]);
    assert.equal(await page.locator('#user-role').textContent(), 'admin');
    assert.equal((await core.store.users.byName('newbie'))!.isAdmin, true);
    await Promise.all([page.waitForNavigation(), page.click('#remove-admin')]);
    assert.equal(await page.locator('#user-role').textContent(), 'researcher');
    const oldSecret = (await core.store.users.byName('newbie'))!.totpSecret;
    await Promise.all([page.waitForNavigation(), page.click('#reset-totp')]);
    await check('confirm');
    await Promise.all([page.waitForNavigation(), page.click('#confirm')]);
    assert.match(await page.locator('#totp-uri').textContent() ?? '', /^otpauth:/);
    assert.notEqual((await core.store.users.byName('newbie'))!.totpSecret, oldSecret);
    await page.goto(`${base}/admin/users/hal`);
    await check('user');

    // ---- item 9: projects, members, roles; targets; API tokens ----
    await page.goto(`${base}/admin/projects`);
    await page.fill('#new-project', 'climate');
    await Promise.all([page.waitForNavigation(), page.click('#add-project')]);
    await page.fill('#member-climate', 'newbie');
    await page.selectOption('#role-climate', 'pi');
    await Promise.all([page.waitForNavigation(), page.click('#project-climate button[type=submit]:not([aria-label^="Remove"])')]);
    assert.match(await page.locator('#project-climate').textContent() ?? '', /newbie\s*PI/);
    await check('projects');

    await page.goto(`${base}/admin/targets`);
    await page.fill('#t-name', 'vm-climate');
    await page.selectOption('#t-project', 'climate');
    await page.fill('#t-host', '192.0.2.10');
    await page.fill('#t-login', 'ubuntu');
    await page.fill('#t-services', 'jupyter=8888/lab?token=s3cr3tT0k');
    await page.fill('#t-cidrs', '198.51.100.0/24');
    await page.fill('#t-expires', '8h');
    await Promise.all([page.waitForNavigation(), page.click('#add-target')]);
    const t = await core.inventory.targetByName('vm-climate');
    assert.ok(t && t.projectName === 'climate' && t.services[0]?.port === 8888 && t.allowedCidrs[0] === '198.51.100.0/24' && t.expiresAt !== null);
    assert.doesNotMatch(await page.content(), /s3cr3tT0k/, 'a service token is a secret: not shown');
    await check('targets');

    await page.goto(`${base}/admin/tokens`);
    await page.fill('#k-account', 'openstack');
    await page.check('input[name=scope][value="targets:read"]');
    await page.selectOption('#k-project', 'climate');
    await Promise.all([page.waitForNavigation(), page.click('#create-token')]);
    const token = (await page.locator('#api-token').textContent())!.trim();
    await check('token-created');
    const listed = await fetch(`${base}/api/v1/targets`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(listed.status, 200, 'the token shown once works');
    assert.deepEqual(((await listed.json()) as { targets: { name: string }[] }).targets.map((x) => x.name), ['vm-climate']);
    await page.goto(`${base}/admin/tokens`);
    await check('tokens');
    page.once('dialog', (d) => void d.accept());
    await Promise.all([page.waitForNavigation(), page.click('button[aria-label="Revoke all tokens of openstack"]')]);
    assert.equal((await fetch(`${base}/api/v1/targets`, { headers: { authorization: `Bearer ${token}` } })).status, 401);

    // ---- item 10: certificates, KRL ----
    await page.goto(`${base}/admin/certificates`);
    const versionBefore = Number(await page.locator('#krl-version').textContent());
    await page.fill('#q', extra.serial.toString());
    await Promise.all([page.waitForNavigation(), page.click('#search')]);
    assert.equal(await page.locator('#certificates tbody tr').count(), 1);
    page.once('dialog', (d) => void d.accept());
    await Promise.all([page.waitForNavigation(), page.click(`button[aria-label="Revoke certificate ${extra.serial}"]`)]);
    assert.equal(await page.locator(`tr[data-serial="${extra.serial}"] td.status-revoked`).count(), 1);
    assert.equal(Number(await page.locator('#krl-version').textContent()), versionBefore + 1);
    const krlFile = join(gw.dir, 'page.krl');
    writeFileSync(krlFile, Buffer.from(await (await fetch(`${base}/api/v1/krl`)).arrayBuffer()));
    const q = await run('ssh-keygen', ['-Q', '-f', krlFile, extra.cert]);
    assert.notEqual(q.code, 0, 'ssh-keygen -Q finds the revoked certificate in the KRL');
    assert.match(q.stdout, /REVOKED/);
    assert.equal((await run('ssh-keygen', ['-Q', '-f', krlFile, hal.cert])).code, 0, 'the other certificate is not revoked');
    await page.goto(`${base}/admin/certificates?q=hal`);
    await check('certificates');

    // ---- item 12: a live ssh -J session through the gateway, ended from the page ----
    const knownHosts = join(gw.dir, 'known_hosts_ops');
    writeFileSync(knownHosts, gw.server.gateway.trust().knownHostsLine + '\n');
    appendFileSync(knownHosts, `[job-hal]:${node.port} ${node.hostKeyPub.split(' ').slice(0, 2).join(' ')}\n`);
    const cfg = writeSshConfig(join(gw.dir, 'ssh_config_ops'), knownHosts, [
      { alias: 'gw', hostName: gw.host, port: gw.port, user: 'hal', key: hal, extra: ['LogLevel INFO'] },
      { alias: 'job-hal', hostName: 'job-hal', port: node.port, user: 'root', key: hal, proxyJump: 'gw' },
    ]);
    const session = holdSshSession(cfg, 'job-hal');
    kill = session.kill;
    await session.ready;
    await waitFor('hal\'s connection with its channel on the connections page', async () => {
      await page.goto(`${base}/admin/connections`);
      const row = page.locator('#connections tr[data-user="hal"]');
      return (await row.count()) === 1 && /job-hal/.test((await row.textContent()) ?? '') ? true : undefined;
    }, 15_000, 300);
    const row = (await page.locator('#connections tr[data-user="hal"]').textContent())!;
    assert.match(row, /127\.0\.0\.1/);
    assert.match(row, new RegExp(`serial\\s*${hal.serial}`));
    await check('connections');
    page.once('dialog', (d) => void d.accept());
    await Promise.all([page.waitForNavigation(), page.click('button[aria-label^="End hal\'s connection"]')]);
    const clickedAt = performance.now();
    const { at: endedAt, stderr } = await session.exitedWithin(15_000, 'the ssh session was not ended');
    assert.ok(endedAt - clickedAt < 1_500, `ended ${Math.round(endedAt - clickedAt)} ms after the click`);
    assert.match(stderr, /An operator ended this connection/);

    // Then hal is disabled from the users page (with its confirmation step): certificates revoked, login refused.
    await page.goto(`${base}/admin/users/hal`);
    await Promise.all([page.waitForNavigation(), page.click('#disable')]);
    await Promise.all([page.waitForNavigation(), page.click('#confirm')]);
    assert.equal(await page.locator('#user-status').textContent(), 'disabled');
    assert.notEqual((await core.store.certificates.bySerial(hal.serial))!.revokedAt, null);

    // ---- item 11: audit filter, pages newest first, JSON-lines export ----
    for (let i = 0; i < 60; i++) await core.audit.record({ type: 'test.filler', outcome: 'success', actor: 'filler', clientAddress: null, details: { i } });
    await page.goto(`${base}/admin/audit`);
    await page.fill('#f-user', 'ops');
    await page.fill('#f-type', 'admin');
    await Promise.all([page.waitForNavigation(), page.click('#filter')]);
    const types = await page.locator('#audit tbody td:nth-child(2)').allTextContents();
    assert.ok(types.length >= 8 && types.every((x) => x.startsWith('admin.')), types.join(','));
    assert.equal(types[0], 'admin.user_disable', 'newest first');
    assert.ok(types.includes('admin.connection_end'));
    await check('audit');
    await page.goto(`${base}/admin/audit?user=filler`);
    assert.equal(await page.locator('#audit tbody tr').count(), 50);
    assert.equal(await page.locator('#audit tbody tr:first-child td.mono').textContent(), '{"i":59}');
    await Promise.all([page.waitForNavigation(), page.click('#older')]);
    assert.equal(await page.locator('#audit tbody tr').count(), 10);
    assert.equal(await page.locator('#audit tbody tr:last-child td.mono').textContent(), '{"i":0}');
    const exported = await page.context().request.get(`${base}/admin/audit/export?user=filler`);
    assert.equal(exported.status(), 200);
    assert.match(exported.headers()['content-disposition'] ?? '', /attachment; filename="airlock-audit-/);
    const lines = (await exported.text()).trim().split('\n').map((l) => JSON.parse(l) as { details: { i: number }; type: string });
    assert.equal(lines.length, 60);
    assert.deepEqual(lines.map((l) => l.details.i), Array.from({ length: 60 }, (_, i) => 59 - i));

    // ---- a researcher: every operator page and action refused ----
    const ritaCtx = await browser.context();
    const rp = await signIn(ritaCtx, base, 'rita', rita.totpUri);
    const pages = ['/admin', '/admin/users', '/admin/users/ops', '/admin/projects', '/admin/targets', '/admin/tokens', '/admin/certificates', '/admin/audit', '/admin/audit/export', '/admin/connections'];
    for (const path of pages) {
      const res = await rp.goto(`${base}${path}`);
      assert.equal(res?.status(), 403, `GET ${path}`);
      assert.match(await rp.locator('main h1').textContent() ?? '', /Not allowed/);
    }
    await rp.goto(`${base}/admin/users`);
    await assertAccessible(rp, 'forbidden');
    await screenshot(rp, 'operator-forbidden');
    const csrf = (await ritaCtx.cookies()).find((ck) => ck.name.endsWith('airlock_csrf'))!.value;
    const opsId = (await core.store.users.byName('ops'))!;
    const posts: [string, Record<string, string>][] = [
      ['/admin/users', { name: 'mallory', password: 'mallory password 123' }],
      ['/admin/users/ops/disable', { confirm: 'yes' }],
      ['/admin/users/rita/admin', { admin: 'grant' }],
      ['/admin/users/ops/reset-totp', { confirm: 'yes' }],
      ['/admin/users/newbie/enable', {}],
      ['/admin/projects', { name: 'evil' }],
      ['/admin/projects/genomics/members', { user: 'rita', role: 'admin' }],
      ['/admin/projects/genomics/members/hal/remove', {}],
      ['/admin/targets', { name: 'evil-vm', project: 'genomics', host: '192.0.2.66', port: '22' }],
      ['/admin/targets/job-hal/remove', {}],
      ['/admin/tokens', { account: 'evil', scope: 'targets:write', ttl: '1d' }],
      ['/admin/tokens/openstack/revoke', {}],
      ['/admin/certificates/revoke-user', { user: 'ops', confirm: 'yes' }],
      [`/admin/certificates/${hal.serial}/revoke`, {}],
      ['/admin/connections/00000000-0000-0000-0000-000000000000/end', {}],
    ];
    const auditBefore = (await core.store.audit.list({ since: 0 })).length;
    for (const [path, form] of posts) {
      const res = await ritaCtx.request.post(`${base}${path}`, { form: { csrf, ...form }, headers: { origin: new URL(base).origin }, maxRedirects: 0 });
      assert.equal(res.status(), 403, `POST ${path}`);
    }
    assert.equal(await core.store.users.byName('mallory'), undefined);
    assert.equal((await core.store.users.byName('ops'))!.disabled, false);
    assert.equal((await core.store.users.byName('ops'))!.totpSecret, opsId.totpSecret);
    assert.equal((await core.store.users.byName('rita'))!.isAdmin, false);
    assert.equal(await core.store.projects.byName('evil'), undefined);
    assert.equal(await core.inventory.targetByName('evil-vm'), undefined);
    assert.ok(await core.inventory.targetByName('job-hal'));
    assert.equal((await core.store.audit.list({ since: 0 })).length, auditBefore);

    assert.deepEqual(csp(), [], 'no CSP violation on any operator page');
  } finally {
    kill?.();
    await browser?.close();
    await node?.stop();
    await gw?.stop();
  }
});
