/**
 * The researcher's web portal in real Chromium against Airlock in this process, a real sshd that
 * trusts Airlock's CA, and ssh-keygen as the oracle: sign-in, every researcher page and its action,
 * axe-core on every page, no CSP violation, and a screenshot per page for docs/researchers/web.md.
 * One browser and one signed-in person for the file; the tests run in order and build on each other.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Download, Page } from 'playwright-core';
import { CHROMIUM_SKIP_REASON } from '../harness/browser.ts';
import { startTargetSshd, tempDir, writeKeyPair } from '../harness/gateway.ts';
import { assertAccessible, screenshot, startPortal, watchCsp, type PortalPerson, type TestPortal } from '../harness/portal.ts';
import { freePortRange, run } from '../harness/processes.ts';
import type { TestSshd } from '../harness/sshd.ts';
import { parsePublicKey } from '../../src/ssh/keys.ts';
import { isAirlockError } from '../../src/errors.ts';

const skip = CHROMIUM_SKIP_REASON;
let portal: TestPortal;
let alice: PortalPerson;
let node: TestSshd;
let ctx: BrowserContext;
let page: Page;
let cspViolations: () => string[];
let dir: string;

before(async () => {
  if (skip) return;
  // Jobs on: the targets page lists alice's job with its ready command.
  const jobPort = await freePortRange(1);
  portal = await startPortal({ AIRLOCK_JOB_PORTS: `${jobPort}-${jobPort}` });
  alice = await portal.person('alice');
  await portal.gw.project('genomics', ['alice']);
  node = await startTargetSshd(portal.gw, ['alice']);
  await portal.gw.target({ name: 'vm1', project: 'genomics', host: '127.0.0.1', port: node.port, loginUser: 'root', services: [{ name: 'jupyter', port: 8888, path: '/lab', token: null }] });
  await portal.gw.server.core.jobs.create({
    name: 'job-7', projectName: 'genomics', owners: ['alice'], host: '127.0.0.1', sshPort: node.port, loginUser: 'root',
    clientCidrs: [], services: [{ name: 'jupyter', port: 8888 }], hostKey: node.hostKeyPub, expiresAt: Date.now() + 3_600_000,
  }, { name: 'orchestrator', clientAddress: null });
  dir = tempDir('airlock-portal-');
  ctx = await portal.context();
  page = await ctx.newPage();
  cspViolations = watchCsp(page);
});

after(async () => {
  await node?.stop();
  await portal?.stop();
});

/** Visits a page, checks accessibility and saves its screenshot. */
async function visit(path: string, shot: string): Promise<void> {
  await page.goto(portal.url + path);
  await assertAccessible(page, path);
  await screenshot(page, shot);
}

async function saved(d: Download, name: string): Promise<string> {
  const path = join(dir, name);
  await d.saveAs(path);
  return path;
}

test('sign-in page: external stylesheet, CSP without unsafe-inline, accessible; a signed-out visit goes to sign-in and back', { skip }, async () => {
  const res = await page.goto(`${portal.url}/keys`);
  assert.match(page.url(), /\/login\?next=%2Fkeys$/);
  const csp = (await res!.allHeaders())['content-security-policy'] ?? '';
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /style-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  // The stylesheet applies (a CSP-blocked inline style would leave the header unstyled).
  assert.equal(await page.locator('header.site-header').evaluate((e) => getComputedStyle(e).backgroundColor), 'rgb(27, 42, 65)');
  await assertAccessible(page, '/login');
  await screenshot(page, 'signin');
  await portal.signIn(page, alice, { next: '/keys' });
  assert.equal(await page.locator('#signed-in-as strong').textContent(), 'alice');
});

test('home: who I am, projects, quota, what next; no operator links for a researcher', { skip }, async () => {
  await visit('/', 'researcher-home');
  assert.equal(await page.locator('#home-user').textContent(), 'alice');
  assert.match(await page.locator('#home-projects').textContent() ?? '', /genomics/);
  assert.match(await page.locator('#home-quota').textContent() ?? '', /5 of 5 certificates left today/);
  assert.equal(await page.locator('#nav-operator').count(), 0);
  assert.equal(await page.locator('a[href^="/admin"]').count(), 0);
  // The same page on a phone: the navigation wraps above the content, nothing scrolls sideways.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.reload();
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), 'no horizontal scrolling on a phone');
  await screenshot(page, 'researcher-home-phone');
  await page.setViewportSize({ width: 1280, height: 900 });
});

test('keys: add by paste and by file, list with the SHA256 fingerprint ssh-keygen computes, the API\'s message for a bad key, delete', { skip }, async () => {
  const k1 = writeKeyPair(join(dir, 'k1'));
  const k2 = writeKeyPair(join(dir, 'k2'), 'ecdsa');
  await page.goto(`${portal.url}/keys`);
  await page.fill('#key-text', readFileSync(`${k1}.pub`, 'utf8'));
  await page.click('#add-key');
  await page.waitForURL(/\/keys\?done=added$/);
  await page.setInputFiles('#key-file', `${k2}.pub`);
  await page.click('#add-key');
  await page.waitForURL(/\/keys\?done=added$/);
  const table = await page.locator('#keys-table').textContent() ?? '';
  for (const k of [k1, k2]) {
    const fp = (await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${k}.pub`])).stdout.split(' ')[1]!;
    assert.ok(table.includes(fp), `${fp} is listed`);
  }
  assert.match(table, /ssh-ed25519/);
  assert.match(table, /ecdsa-sha2-nistp384/);
  // A DSA-looking or broken key: the registry's own message, as the API gives it.
  const bad = 'ssh-ed25519 AAAAnotakey alice';
  let apiMessage = '';
  try { parsePublicKey(bad); } catch (e) { if (isAirlockError(e)) apiMessage = e.message; }
  assert.ok(apiMessage.length > 0);
  await page.fill('#key-text', bad);
  await page.click('#add-key');
  assert.equal(await page.locator('#result').textContent(), apiMessage);
  await assertAccessible(page, '/keys (error)');
  await visit('/keys', 'researcher-keys');
  // Delete the ECDSA key.
  const fp2 = (await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${k2}.pub`])).stdout.split(' ')[1]!;
  await page.click(`button[aria-label="Delete key ${fp2}"]`);
  await page.waitForURL(/\/keys\?done=deleted$/);
  assert.ok(!(await page.locator('#keys-table').textContent() ?? '').includes(fp2));
  const audit = await portal.gw.audit('inventory.key_remove');
  assert.equal(audit.at(-1)?.details.fingerprint, fp2);
});

let pastedCert = '';
let pastedKey = '';
test('certificate by paste: the form downloads a certificate that ssh-keygen reads as alice\'s', { skip }, async () => {
  pastedKey = writeKeyPair(join(dir, 'pasted'));
  await visit('/certificate', 'researcher-certificate');
  await page.fill('#public_key', readFileSync(`${pastedKey}.pub`, 'utf8'));
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#sign')]);
  assert.equal(download.suggestedFilename(), 'airlock-key-cert.pub');
  pastedCert = await saved(download, 'pasted-cert.pub');
  const shown = await run('ssh-keygen', ['-L', '-f', pastedCert]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /Type: ssh-ed25519-cert-v01@openssh.com user certificate/);
  assert.match(shown.stdout, /Principals: \n\s+alice/);
  const issued = (await portal.gw.audit('cert.issue')).at(-1);
  assert.equal(issued?.actor, 'alice');
  assert.equal(issued?.outcome, 'success');
  const serial = BigInt(shown.stdout.match(/Serial: (\d+)/)![1]!);
  assert.equal((await portal.gw.server.core.store.certificates.bySerial(serial))?.method, 'web:password+totp');
});

test('certificate from a key generated in the browser logs in to a real sshd that trusts the CA', { skip }, async () => {
  await page.goto(`${portal.url}/certificate`);
  await page.locator('#browser-key').waitFor({ state: 'visible' });
  const downloads: Download[] = [];
  page.on('download', (d) => downloads.push(d));
  await page.click('#generate');
  await page.locator('#generated-done').waitFor();
  for (let i = 0; i < 100 && downloads.length < 3; i++) await page.waitForTimeout(50);
  assert.deepEqual(downloads.map((d) => d.suggestedFilename()).sort(), ['airlock-key', 'airlock-key-cert.pub', 'airlock-key.pub']);
  const key = join(dir, 'airlock-key');
  for (const d of downloads) await d.saveAs(join(dir, d.suggestedFilename()));
  chmodSync(key, 0o600);
  // ssh-keygen reads the page's private key file and derives the same public key (PROTOCOL.key is right).
  const derived = await run('ssh-keygen', ['-y', '-f', key]);
  assert.equal(derived.code, 0, derived.stderr);
  assert.equal(derived.stdout.split(' ').slice(0, 2).join(' '), readFileSync(`${key}.pub`, 'utf8').split(' ').slice(0, 2).join(' '));
  // Only the public key reached the server: the ledger's key is the one in airlock-key.pub.
  const known = join(dir, 'known_hosts');
  writeFileSync(known, `[127.0.0.1]:${node.port} ${node.hostKeyPub.split(' ').slice(0, 2).join(' ')}\n`);
  const r = await run('ssh', ['-F', 'none', '-i', key, '-o', `CertificateFile=${key}-cert.pub`, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', `UserKnownHostsFile=${known}`,
    '-o', 'StrictHostKeyChecking=yes', '-o', 'PreferredAuthentications=publickey', '-p', String(node.port), 'root@127.0.0.1', 'echo web-key-ok'], { env: { ...process.env, SSH_AUTH_SOCK: '' }, timeoutMs: 30_000 });
  assert.equal(r.code, 0, r.stderr + node.logs());
  assert.match(r.stdout, /web-key-ok/);
  // A PuTTY user's .ppk, made in the page too: puttygen reads it as the same key.
  const [ppkDownload] = await Promise.all([page.waitForEvent('download'), page.click('#download-airlock-key-ppk')]);
  const ppk = await saved(ppkDownload, 'airlock-key.ppk');
  if (existsSync('/usr/bin/puttygen')) {
    const fromPpk = await run('puttygen', [ppk, '-O', 'public-openssh']);
    assert.equal(fromPpk.code, 0, fromPpk.stderr);
    assert.equal(fromPpk.stdout.split(' ').slice(0, 2).join(' '), derived.stdout.split(' ').slice(0, 2).join(' '));
  }
  await assertAccessible(page, '/certificate (generated)');
  await screenshot(page, 'researcher-certificate-generated');
});

test('certificates: the ledger lists both; revoking the pasted one (with a confirmation step) puts it in the KRL', { skip }, async () => {
  // Home now shows both with their time left, counting down in the page, and the quota used.
  await page.goto(`${portal.url}/`);
  assert.equal(await page.locator('#home-certs [data-until]').count(), 2);
  assert.match(await page.locator('#home-certs [data-until]').first().textContent() ?? '', /^2[34]h \d+m$/);
  assert.match(await page.locator('#home-quota').textContent() ?? '', /3 of 5 certificates left today; another frees up at \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
  await screenshot(page, 'researcher-home-certificates');
  await visit('/certificates', 'researcher-certificates');
  const serial = (await run('ssh-keygen', ['-L', '-f', pastedCert])).stdout.match(/Serial: (\d+)/)![1]!;
  assert.equal(await page.locator('#certs-table tbody tr').count(), 2);
  await page.click(`#revoke-${serial}`);
  await assertAccessible(page, '/certificates/revoke');
  await screenshot(page, 'researcher-certificates-confirm');
  await page.click('#confirm-revoke');
  await page.waitForURL(/\/certificates\?done=revoked$/);
  assert.match(await page.locator(`tr[data-serial="${serial}"]`).textContent() ?? '', /revoked/);
  const krl = join(dir, 'krl');
  writeFileSync(krl, Buffer.from(await (await fetch(`${portal.url}/api/v1/krl`)).arrayBuffer()));
  const q = await run('ssh-keygen', ['-Q', '-f', krl, pastedCert]);
  assert.notEqual(q.code, 0, 'ssh-keygen -Q refuses the revoked certificate');
  assert.match(q.stdout + q.stderr, /REVOKED/);
  // The browser-generated one is still good.
  assert.equal((await run('ssh-keygen', ['-Q', '-f', krl, join(dir, 'airlock-key-cert.pub')])).code, 0);
});

test('targets: per project, ssh -J and airlock tunnel lines, and the ssh config airlock config writes', { skip }, async () => {
  await visit('/targets', 'researcher-targets');
  const card = await page.locator('#target-vm1').textContent() ?? '';
  const trust = portal.gw.server.gateway.trust();
  assert.ok(card.includes(`ssh -J alice@${trust.host}:${trust.port} -p ${node.port} root@vm1`), card);
  assert.ok(card.includes('airlock tunnel vm1 jupyter'));
  // The job: a port of its own on the gateway, the ready command with its service forwarded.
  const job = await page.locator('#job-job-7').textContent() ?? '';
  const jobPort = [...portal.gw.server.gateway.jobPorts().values()][0];
  assert.ok(job.includes(`ssh -p ${jobPort} -L 8888:localhost:8888 alice@${trust.host}`), job);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-config')]);
  const config = readFileSync(await saved(download, 'config'), 'utf8');
  assert.match(config, /^# Generated by `airlock config` for alice/);
  assert.match(config, /Host airlock-gateway\n\s+HostName 127\.0\.0\.1/);
  assert.match(config, /Host vm1\n/);
  const [kh] = await Promise.all([page.waitForEvent('download'), page.click('#download-known-hosts')]);
  assert.match(readFileSync(await saved(kh, 'kh'), 'utf8'), /@cert-authority \[vm1\]:\d+ ssh-ed25519 /);
});

test('gateway trust: endpoint, fingerprint, randomart, known_hosts and @cert-authority lines', { skip }, async () => {
  await visit('/trust', 'researcher-trust');
  const trust = portal.gw.server.gateway.trust();
  assert.equal(await page.locator('#trust-fingerprint').textContent(), trust.fingerprint);
  assert.equal(await page.locator('#trust-known-hosts').textContent(), trust.knownHostsLine);
  assert.equal(await page.locator('#trust-randomart').textContent(), trust.randomart);
  assert.equal(await page.locator('#trust-cert-authority').textContent(), portal.gw.server.core.ca.certAuthorityLine());
});

test('account: TOTP re-enrolment with a recovery code shows the QR once; sign out everywhere ends this session and the CLI token', { skip }, async () => {
  await visit('/account', 'researcher-account');
  assert.equal(await page.locator('#recovery-left').textContent(), '10');
  await page.fill('#recovery_code', 'AAAA-BBBB-CCCC-DDDD');
  await page.click('#reenrol');
  assert.match(await page.locator('#result').textContent() ?? '', /not valid/);
  await page.fill('#recovery_code', alice.recoveryCodes.shift()!);
  await page.click('#reenrol');
  await page.locator('#totp-qr').waitFor();
  const uri = await page.locator('#totp-uri').textContent() ?? '';
  const secret = new URL(uri).searchParams.get('secret')!;
  assert.notEqual(secret, alice.totpSecret);
  alice.totpSecret = secret;
  assert.equal(await page.locator('#recovery-left').textContent(), '9');
  await assertAccessible(page, '/account (QR)');
  await screenshot(page, 'researcher-account-qr');
  // Shown once: a reload shows no QR.
  await page.goto(`${portal.url}/account`);
  assert.equal(await page.locator('#totp-qr').count(), 0);
  // A CLI token, so that "everywhere" has something to end.
  const login = await fetch(`${portal.url}/api/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'alice', password: 'correct horse battery staple', otp: alice.recoveryCodes.shift() }) });
  assert.equal(login.status, 200);
  const token = (await login.json() as { token: string }).token;
  await page.reload();
  assert.match(await page.locator('#cli-tokens').textContent() ?? '', /airlock login/);
  await page.click('#sign-out-everywhere');
  await page.waitForURL(/\/login$/);
  const me = await fetch(`${portal.url}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(me.status, 401);
  const audit = await portal.gw.audit('account.sign_out_everywhere');
  assert.equal(audit.at(-1)?.details.tokens, 1);
  // The new authenticator signs in.
  await portal.signIn(page, alice);
});

test('the approval page of an SSH login shares the layout and passes axe-core', { skip }, async () => {
  const login = await portal.gw.server.browserLogin.logins.start({ kind: 'ssh', userName: 'alice', clientAddress: '192.0.2.7', connectionRef: 'portal-test' });
  await page.goto(login.url);
  assert.equal(await page.locator('#user-code').textContent(), login.userCode);
  await assertAccessible(page, 'approval');
  await screenshot(page, 'approval');
  await page.click('#approve');
  await page.locator('#result').waitFor();
  await assertAccessible(page, 'approved');
});

test('every POST needs the CSRF token: a forged form is refused and changes nothing', { skip }, async () => {
  const forged = await ctx.request.post(`${portal.url}/certificates/revoke-all`, { form: { csrf: 'x'.repeat(43) }, maxRedirects: 0 });
  assert.equal(forged.status(), 403);
  const crossSite = await ctx.request.post(`${portal.url}/keys`, { form: { public_key: 'ssh-ed25519 AAAA' }, headers: { origin: 'https://evil.example' }, maxRedirects: 0 });
  assert.equal(crossSite.status(), 403);
  await page.goto(`${portal.url}/certificates`);
  assert.match(await page.locator(`#certs-table`).textContent() ?? '', /valid/);
});

test('no page reported a Content-Security-Policy violation', { skip }, () => {
  assert.deepEqual(cspViolations(), []);
});
