/**
 * The browser-login services of one `airlock serve`: login requests, web sessions and (when
 * configured) OIDC sign-in, built from the configuration and the cores, for the HTTP pages and the
 * SSH gateway to share. The base URL is read lazily: with port 0 it is known only once HTTP listens.
 */
import type { Auditor } from '../audit/auditor.ts';
import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import type { Store } from '../store/repositories.ts';
import { BrowserLogins } from './browser-login.ts';
import type { DecisionFeed } from './decision-feed.ts';
import { OidcLogin } from './oidc-login.ts';
import { WebSessions } from './web-sessions.ts';

export interface BrowserLoginServices {
  logins: BrowserLogins;
  sessions: WebSessions;
  oidc: OidcLogin | null;
  /** The public base URL of the web pages (no trailing slash). */
  baseUrl: () => string;
}

/** Builds the services; `baseUrl` must answer once the HTTP listener is up. */
export function createBrowserLoginServices(deps: { config: Config; store: Store; clock: Clock; audit: Auditor; baseUrl: () => string; feed?: DecisionFeed }): BrowserLoginServices {
  const { config, store, clock, audit, baseUrl } = deps;
  return {
    logins: new BrowserLogins({
      store, clock, audit, baseUrl, ttlMs: config.browserLoginTtlMs, ...(deps.feed ? { feed: deps.feed } : {}),
      startLimits: { perAddress: config.browserLoginRatePerAddress, total: config.browserLoginRateTotal },
    }),
    sessions: new WebSessions({ store, clock, ttlMs: config.webSessionTtlMs }),
    oidc: config.oidc === null ? null : new OidcLogin({ settings: config.oidc, store, clock, audit, baseUrl }),
    baseUrl,
  };
}
