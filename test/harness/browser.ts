/**
 * A real Chromium for tests, driven by playwright-core: the system's /usr/bin/chromium (the network is
 * closed, so playwright cannot fetch its own), headless, with the background features that would try
 * to reach the internet switched off. playwright's launch() gives every browser a fresh temporary
 * `--user-data-dir` and removes it on close; each context() is a separate cookie jar (another person).
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';

export const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

/** Why browser tests are skipped on this machine; undefined when Chromium is installed. */
export const CHROMIUM_SKIP_REASON: string | undefined = CHROMIUM ? undefined : 'Chromium is not installed (apt-get install chromium)';

export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];

export interface TestBrowser {
  browser: Browser;
  /** A fresh cookie jar. */
  context(): Promise<BrowserContext>;
  close(): Promise<void>;
}

/** Launches Chromium. */
export async function launchChromium(): Promise<TestBrowser> {
  if (!CHROMIUM) throw new Error(CHROMIUM_SKIP_REASON);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 });
  return {
    browser,
    context: () => browser.newContext(),
    close: () => browser.close(),
  };
}
