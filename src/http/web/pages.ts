/**
 * The server-rendered pages of the browser login: sign-in (password + one-time code, or the identity
 * provider), the approval page for an SSH or device login, and the result and error pages. Every
 * interpolated value goes through hono/html's escaping; the pages need no script, and style comes from the external stylesheet (CSP without unsafe-inline).
 */
import { html } from 'hono/html';
import { formatDuration } from '../../duration.ts';
import type { LoginRequestView } from '../../identity/browser-login.ts';
import { publicLayout, type Html } from './layout.ts';


/** The page frame of the public pages (the portal's narrow layout, external stylesheet). */
export function layout(title: string, body: Html): Html {
  return publicLayout(title, body);
}

/** What the sign-in page needs. */
export interface SignInPage {
  csrf: string;
  next: string;
  /** Pre-filled user name (the login's user). */
  userName: string | null;
  /** The login this sign-in is for, when it is one. */
  request: LoginRequestView | null;
  /** The identity provider's display name, when OIDC is configured. */
  oidcName: string | null;
  error: string | null;
}

/** The sign-in page. */
export function signInPage(p: SignInPage): Html {
  const context = p.request
    ? html`<p>Sign in as <strong>${p.request.userName}</strong> to approve the ${p.request.kind === 'ssh' ? 'SSH login' : 'command-line login'}
        ${p.request.clientAddress ? html`from <strong>${p.request.clientAddress}</strong>` : ''} with the code <span class="code">${p.request.userCode}</span>.</p>`
    : html`<p>Sign in to Airlock.</p>`;
  const oidc = p.oidcName
    ? html`<p><a class="button" id="oidc" href="/login/oidc?next=${encodeURIComponent(p.next)}">Sign in with ${p.oidcName}</a></p><p class="or">or with your Airlock password:</p>`
    : '';
  return layout('Sign in', html`<h1>Sign in</h1>${context}
${p.error ? html`<p class="error" role="alert">${p.error}</p>` : ''}
${oidc}
<form method="post" action="/login/password">
<input type="hidden" name="csrf" value="${p.csrf}"><input type="hidden" name="next" value="${p.next}">
<label for="user">User name</label><input type="text" id="user" name="user" autocomplete="username" value="${p.userName ?? ''}" required>
<label for="password">Password</label><input type="password" id="password" name="password" autocomplete="current-password" required>
<label for="otp">One-time code (or a recovery code)</label><input type="text" id="otp" name="otp" autocomplete="one-time-code" inputmode="numeric" required>
<p><button type="submit" id="sign-in">Sign in</button></p>
</form>`);
}

function clientLine(r: LoginRequestView): Html {
  return html`<dt>From</dt><dd>${r.clientAddress ?? 'unknown address'}</dd>`;
}

/** The approval page for a pending login the signed-in user may approve. */
export function approvalPage(p: { csrf: string; secret: string; request: LoginRequestView; signedInAs: string; now: number }): Html {
  const r = p.request;
  const what = r.kind === 'ssh' ? 'an SSH login' : 'a command-line login (airlock login --browser)';
  const action = `/login/b/${p.secret}`;
  return layout('Approve login', html`<h1>Approve ${what}?</h1>
<p>Approve only if you started this login yourself just now, and the code below is the one your terminal shows.</p>
<dl><dt>User</dt><dd>${r.userName}</dd>${clientLine(r)}
<dt>Code</dt><dd><span class="code" id="user-code">${r.userCode}</span></dd>
<dt>Valid for</dt><dd>${formatDuration(Math.max(0, r.expiresAt - p.now))}</dd></dl>
<form method="post" action="${action}/approve" class="inline">
<input type="hidden" name="csrf" value="${p.csrf}"><input type="hidden" name="code" value="${r.userCode}">
<button type="submit" id="approve">Approve</button></form>
<form method="post" action="${action}/deny" class="inline">
<input type="hidden" name="csrf" value="${p.csrf}"><input type="hidden" name="code" value="${r.userCode}">
<button type="submit" id="deny">Deny</button></form>
<p class="note">Signed in as ${p.signedInAs}.</p>`);
}

/** The page for a login that the signed-in user may not approve (it is for another user). */
export function wrongUserPage(p: { csrf: string; request: LoginRequestView; signedInAs: string; next: string }): Html {
  return layout('Another user', html`<h1>This login is for another user</h1>
<p class="error" role="alert">This login is for the user <strong>${p.request.userName}</strong>, but you are signed in as <strong>${p.signedInAs}</strong>.
Only ${p.request.userName} can approve it.</p>
<form method="post" action="/logout"><input type="hidden" name="csrf" value="${p.csrf}"><input type="hidden" name="next" value="${p.next}">
<button type="submit" id="sign-out">Sign out and sign in as ${p.request.userName}</button></form>`);
}

/** After a decision: what to do next. */
export function decidedPage(p: { request: LoginRequestView; decision: 'approved' | 'denied'; userName: string }): Html {
  if (p.decision === 'denied') {
    // Not the green "ok" box: nothing succeeded. Say what happens now, on both sides.
    const there = p.request.kind === 'ssh'
      ? html`The ssh connection that asked for it is refused and closed; it cannot log in by another method either.`
      : html`<code>airlock login --browser</code> in the terminal that asked for it stops without signing in.`;
    return layout('Login denied', html`<h1>Login denied</h1><p class="denied" role="status" id="result">You denied this login${p.request.clientAddress ? html` from <strong>${p.request.clientAddress}</strong>` : ''}. ${there}</p>
<p class="note">If you did not start this login, someone else has a link for your account: tell your operators. If it was you, start the login again.</p>`);
  }
  const next = p.request.kind === 'ssh'
    ? html`You are now logged in as <strong>${p.userName}</strong> and should be able to continue in your ssh session.`
    : html`You are now logged in as <strong>${p.userName}</strong>; <code>airlock login</code> will finish in your terminal by itself.`;
  return layout('Login approved', html`<h1>Login approved</h1><p class="ok" role="status" id="result">${next}</p><p class="note">You can close this window.</p>`);
}

/** A page that explains why nothing can be done (used, expired, unknown, refused). */
export function messagePage(title: string, message: string): Html {
  return layout(title, html`<h1>${title}</h1><p class="error" role="alert" id="result">${message}</p>`);
}
