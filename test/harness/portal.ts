/**
 * The web portal for browser tests: Airlock in this process (HTTP app and gateway, test/harness/
 * gateway.ts), people enrolled with a password and a TOTP secret the test knows, sign-in through the
 * real pages in Chromium, axe-core run inside the page, CSP violations collected, and a screenshot
 * per page saved to docs/screenshots/ under a fixed name (the docs embed them).
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { enrolUser } from '../../src/identity/local-login.ts';
import { LOW_COST_FOR_TESTS } from '../../src/identity/password.ts';
import { ROOT } from './airlock.ts';
import { launchChromium, type TestBrowser } from './browser.ts';
import { startTestGateway, type TestGateway } from './gateway.ts';
import { TotpCodes } from './totp-codes.ts';

export const PORTAL_PASSWORD = 'correct horse battery staple';
export const SCREENSHOT_DIR = join(ROOT, 'docs', 'screenshots');
const AXE_SOURCE = join(ROOT, 'node_modules', 'axe-core', 'axe.min.js');

/** A person with a local account, as the tests sign them in. */
export interface PortalPerson {
  name: string;
  totpSecret: string;
  recoveryCodes: string[];
}

export interface TestPortal {
  gw: TestGateway;
  url: string;
  chrome: TestBrowser;
  /** Enrols a person (optionally an admin) with a password and known TOTP secret. */
  person(name: string, opts?: { admin?: boolean }): Promise<PortalPerson>;
  /** A fresh cookie jar whose pages record CSP violations. */
  context(): Promise<BrowserContext>;
  /** Signs in through the sign-in page; `otp` defaults to a fresh TOTP code (a recovery code also works). */
  signIn(page: Page, who: PortalPerson, opts?: { otp?: string; next?: string }): Promise<void>;
  stop(): Promise<void>;
}

// The portal's server runs on the real clock. Up to three steps are valid at once, so a person signs in
// up to three times in one 30-s step without waiting for the next.
const codes = new TotpCodes();
/** A TOTP code for a 30 s step this person has not used yet (a code is accepted once, RFC 6238 §5.2). */
export async function freshTotp(who: PortalPerson): Promise<string> {
  return codes.next(who.totpSecret, who.name);
}

/** Starts Airlock and Chromium; the caller stops both with stop(). */
export async function startPortal(env: NodeJS.ProcessEnv = {}): Promise<TestPortal> {
  const gw = await startTestGateway({ AIRLOCK_GATEWAY_ALLOW_LOOPBACK_TARGETS: '1', AIRLOCK_GATEWAY_PENALTIES: 'off', ...env });
  const chrome = await launchChromium();
  const url = gw.server.httpUrl;
  const contexts: BrowserContext[] = [];
  return {
    gw, url, chrome,
    async person(name, opts = {}) {
      const core = gw.server.core;
      const e = await enrolUser(core.store, { name, email: `${name}@uni.example`, isAdmin: opts.admin ?? false, password: PORTAL_PASSWORD }, core.clock, { kdfCost: LOW_COST_FOR_TESTS });
      return { name, totpSecret: e.totpSecret, recoveryCodes: [...e.recoveryCodes] };
    },
    async context() {
      // Downloads are kept so tests can read them; a fixed viewport makes screenshots comparable.
      const ctx = await chrome.browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
      contexts.push(ctx);
      return ctx;
    },
    async signIn(page, who, opts = {}) {
      await page.goto(`${url}/login${opts.next ? `?next=${encodeURIComponent(opts.next)}` : ''}`);
      await page.fill('#user', who.name);
      await page.fill('#password', PORTAL_PASSWORD);
      await page.fill('#otp', opts.otp ?? await freshTotp(who));
      await page.click('#sign-in');
      await page.waitForURL(`${url}${opts.next ?? '/'}`);
    },
    async stop() {
      for (const c of contexts) await c.close().catch(() => undefined);
      await chrome.close();
      await gw.stop();
    },
  };
}

/** Records the page's CSP violations (the console reports each one); read them with the returned function. */
export function watchCsp(page: Page): () => string[] {
  const seen: string[] = [];
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) seen.push(m.text()); });
  return () => [...seen];
}

/**
 * Runs axe-core in the page (WCAG 2.x A and AA rules) and fails on any serious or critical violation.
 * axe is evaluated through the DevTools protocol, which the page's CSP does not govern, so the policy
 * under test stays exactly as served (a <script> tag would need 'unsafe-inline').
 */
export async function assertAccessible(page: Page, label: string): Promise<void> {
  const loaded = await page.evaluate(() => typeof (globalThis as { axe?: unknown }).axe !== 'undefined');
  if (!loaded) await page.evaluate(readFileSync(AXE_SOURCE, 'utf8'));
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(ctx: unknown, opts: unknown): Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: unknown }[] }[] }> } }).axe;
    const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => JSON.stringify(n.target)).slice(0, 3) }));
  });
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `${label}: axe-core found serious or critical violations`);
}

/** Saves a full-page screenshot as docs/screenshots/NAME.png (the name is fixed, so the docs can embed it). */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true, animations: 'disabled', caret: 'hide' });
}
