/**
 * The one layout of every portal page: a skip link, a header with the signed-in user and sign-out,
 * the navigation (researcher links for everyone; operator links only for admins, and the project
 * pages for PIs), the page's main content and a footer. Sign-in and approval pages use the narrow
 * public frame. No inline style or script anywhere: the stylesheet and the script are external files
 * (/assets/portal.css, /assets/portal.js) so the Content-Security-Policy can forbid inline code.
 */
import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import { PORTAL_CSS_PATH, PORTAL_JS_PATH } from './assets.ts';

export type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

/** Who is looking at a page, as far as the layout needs it (roles are checked on the server too). */
export interface Viewer {
  name: string;
  isAdmin: boolean;
  /** PI of at least one project. */
  isPi: boolean;
}

/** One navigation link. `for` says who sees it: everyone signed in, admins, or admins and PIs. */
export interface NavLink {
  href: string;
  label: string;
  for: 'user' | 'admin' | 'pi';
}

/** The researcher's pages (src/http/web/researcher-routes.ts). */
export const RESEARCHER_NAV: readonly NavLink[] = [
  { href: '/', label: 'Home', for: 'user' },
  { href: '/certificate', label: 'Get a certificate', for: 'user' },
  { href: '/keys', label: 'Keys', for: 'user' },
  { href: '/certificates', label: 'My certificates', for: 'user' },
  { href: '/targets', label: 'Targets', for: 'user' },
  { href: '/trust', label: 'Gateway trust', for: 'user' },
  { href: '/account', label: 'Account', for: 'user' },
];

/** The operator's pages (the operator routes live under /admin). */
export const OPERATOR_NAV: readonly NavLink[] = [
  { href: '/admin/users', label: 'Users', for: 'admin' },
  { href: '/admin/projects', label: 'Projects', for: 'pi' },
  { href: '/admin/targets', label: 'Project targets', for: 'pi' },
  { href: '/admin/tokens', label: 'API tokens', for: 'admin' },
  { href: '/admin/certificates', label: 'All certificates', for: 'admin' },
  { href: '/admin/audit', label: 'Audit', for: 'admin' },
  { href: '/admin/connections', label: 'Connections', for: 'admin' },
];

/** Whether a viewer sees a link (the server checks the role again on every request). */
export function canSee(v: Viewer, link: NavLink): boolean {
  if (link.for === 'user') return true;
  if (link.for === 'pi') return v.isAdmin || v.isPi;
  return v.isAdmin;
}

function navList(links: readonly NavLink[], current: string): Html {
  return html`<ul>${links.map((l) => html`<li><a href="${l.href}"${l.href === current ? html` aria-current="page"` : ''}>${l.label}</a></li>`)}</ul>`;
}

function head(title: string): Html {
  return html`<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>${title} · Airlock</title>
<link rel="stylesheet" href="${PORTAL_CSS_PATH}"><script src="${PORTAL_JS_PATH}" defer></script>`;
}

/** What a portal page gives the layout. */
export interface PortalPage {
  title: string;
  viewer: Viewer;
  /** The CSRF token for the sign-out form. */
  csrf: string;
  /** The path of the page, to mark the current link. */
  current: string;
  body: Html;
}

/** The frame of a signed-in portal page. */
export function portalLayout(p: PortalPage): Html {
  const operator = OPERATOR_NAV.filter((l) => canSee(p.viewer, l));
  const role = p.viewer.isAdmin ? 'admin' : p.viewer.isPi ? 'PI' : null;
  return html`<!doctype html>
<html lang="en"><head>${head(p.title)}</head>
<body><a class="skip" href="#main">Skip to content</a>
<header class="site-header"><a class="brand" href="/">Airlock</a>
<div class="who" id="signed-in-as">Signed in as <strong>${p.viewer.name}</strong>${role ? html` (${role})` : ''}
<form method="post" action="/logout"><input type="hidden" name="csrf" value="${p.csrf}"><input type="hidden" name="next" value="/"><button type="submit" id="sign-out">Sign out</button></form></div>
</header>
<div class="layout with-nav">
<nav class="portal-nav" aria-label="Portal"><h2 id="nav-researcher">Researcher</h2>${navList(RESEARCHER_NAV, p.current)}
${operator.length > 0 ? html`<h2 id="nav-operator">Operator</h2>${navList(operator, p.current)}` : ''}</nav>
<main id="main" tabindex="-1">${p.body}</main>
</div>
<footer class="site-footer"><p>Airlock · <a href="/trust">Check the gateway's fingerprint</a> before you trust it.</p></footer>
</body></html>`;
}

/** The narrow frame of the public pages (sign-in, approval, messages): no navigation. */
export function publicLayout(title: string, body: Html): Html {
  return html`<!doctype html>
<html lang="en"><head>${head(title)}</head>
<body><a class="skip" href="#main">Skip to content</a>
<header class="site-header"><a class="brand" href="/">Airlock</a></header>
<main id="main" class="narrow" tabindex="-1">${body}</main>
<footer class="site-footer"><p>Airlock</p></footer>
</body></html>`;
}
