/**
 * `airlock login --browser` end to end: the real CLI prints a link and a code, a real Chromium signs in
 * with password + TOTP and approves, and the CLI writes key and certificate (0600) like the password
 * login; the ledger records the browser as the method. A denial ends the CLI with a clear message.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { AIRLOCK_BIN } from '../harness/airlock.ts';
import { startTestServer, TEST_PASSWORD, type TestServer } from '../harness/in-process.ts';
import { CHROMIUM_SKIP_REASON, launchChromium, type TestBrowser } from '../harness/browser.ts';
import { CODE, LINK } from '../harness/ssh-browser-login.ts';
import { run, type RunResult } from '../harness/processes.ts';
import { TotpCodes } from '../harness/totp-codes.ts';

let srv: TestServer;
let chrome: TestBrowser;
let dir: string;
let secret: string;
const contexts: BrowserContext[] = [];
const skip = CHROMIUM_SKIP_REASON;

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'airlock-cli-browser-'));
  srv = await startTestServer();
  codes = new TotpCodes(() => srv.server.core.clock.now());
  secret = (await srv.addUser('alice')).secret;
  chrome = await launchChromium();
});

after(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await chrome?.close();
  await srv?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs `airlock login --browser`, handing the link and code to `onLink` as soon as they are printed. */
function loginBrowser(home: string, onLink: (url: string, code: string) => Promise<void>): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [AIRLOCK_BIN, 'login', '--server', srv.url, '--user', 'alice', '--browser', '--json', '--no-ssh-config'], {
      env: { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), SSH_AUTH_SOCK: '' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let seen = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const url = LINK.exec(stderr)?.[1];
      const code = CODE.exec(stderr)?.[1];
      if (url && code && !seen) {
        seen = true;
        onLink(url, code).catch((err: unknown) => {
          child.kill('SIGTERM');
          reject(err instanceof Error ? err : new Error(String(err)));
        });
      }
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

// Each sign-in gets a TOTP step not used before (a code is accepted once), without waiting for one.
let codes: TotpCodes;

async function decide(url: string, code: string, decision: 'approve' | 'deny'): Promise<void> {
  const context = await chrome.context();
  contexts.push(context);
  const page = await context.newPage();
  await page.goto(url);
  await page.fill('#password', TEST_PASSWORD);
  await page.fill('#otp', await codes.next(secret));
  await page.click('#sign-in');
  await page.waitForURL(url);
  assert.equal(await page.locator('#user-code').textContent(), code);
  assert.match(await page.content(), /a command-line login/);
  await page.click(`#${decision}`);
  await page.locator('#result, .ok').first().waitFor();
}

test('airlock login --browser prints a link, waits for the approval, then writes key and certificate', { skip }, async () => {
  const home = join(dir, 'home-1');
  const r = await loginBrowser(home, (url, code) => decide(url, code, 'approve'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /To sign in as alice, open this link in a browser/);
  const out = JSON.parse(r.stdout) as { user: string; key_path: string; certificate_path: string; serial: string };
  assert.equal(out.user, 'alice');
  assert.equal(statSync(out.key_path).mode & 0o777, 0o600);
  assert.equal(statSync(out.certificate_path).mode & 0o777, 0o600);
  const listed = await run('ssh-keygen', ['-L', '-f', out.certificate_path]);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /Principals: \n\s+alice\n/);
  const alice = (await srv.server.core.store.users.byName('alice'))!;
  const record = (await srv.server.core.store.certificates.listByUser(alice.id)).find((c) => c.serial.toString() === out.serial);
  assert.equal(record?.method, 'browser');
  assert.doesNotMatch(r.stderr + r.stdout, /alk_[A-Za-z0-9_-]{20,}/, 'the session token is never printed');
});

test('a denial ends airlock login --browser with one clear sentence and no files', { skip }, async () => {
  const home = join(dir, 'home-2');
  const r = await loginBrowser(home, (url, code) => decide(url, code, 'deny'));
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /The login was denied in the browser/);
  assert.throws(() => statSync(join(home, '.ssh', 'airlock-key')));
});
