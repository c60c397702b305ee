/**
 * The operator pages' content (issue 12 items 8, 10, 11, 12): users, one user, the enrolment or TOTP
 * reset shown once, confirmations, certificates with the KRL state, audit, live connections. Only
 * markup: every value is escaped by hono/html, the routes (operator-routes.ts) decide and act through
 * the services. Forms work without JavaScript; `data-confirm` and `data-copy` are extras of portal.js.
 */
import { html, raw } from 'hono/html';
import QRCode from 'qrcode';
import type { AuditEvent, CertificateRecord, LiveConnectionRecord } from '../../store/repositories.ts';
import type { KrlStatus } from '../../ca/ledger-search.ts';
import type { UserView } from '../../identity/user-admin.ts';
import type { AuditQuery } from '../../audit/audit-query.ts';
import { formatDuration } from '../../duration.ts';
import type { Html } from './layout.ts';

/** A time as operators read it: UTC to the minute. */
export function utc(ms: number | null): string {
  if (ms === null) return '—';
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** A byte count in words (1.2 MB). */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** A hidden CSRF field. */
export function csrfField(csrf: string): Html {
  return html`<input type="hidden" name="csrf" value="${csrf}">`;
}

/** The one-line result of the last action (fixed texts chosen by the route; never reflected input). */
export function notice(text: string | null): Html {
  return text === null ? html`` : html`<p class="ok" role="status" id="notice">${text}</p>`;
}

/** The users page: search, list, add. */
export function usersBody(p: { csrf: string; q: string; users: UserView[]; notice: string | null }): Html {
  return html`<h1>Users</h1>${notice(p.notice)}
<form method="get" action="/admin/users" role="search"><label for="q">Search by name or e-mail</label>
<input type="search" id="q" name="q" value="${p.q}"><button type="submit" id="search">Search</button></form>
<div class="table-wrap"><table id="users"><caption class="note">${p.users.length} user(s)</caption>
<thead><tr><th scope="col">Name</th><th scope="col">E-mail</th><th scope="col">Role</th><th scope="col">Status</th><th scope="col">One-time codes</th><th scope="col">Created</th></tr></thead>
<tbody>${p.users.map((u) => html`<tr><td><a href="/admin/users/${encodeURIComponent(u.name)}">${u.name}</a></td><td>${u.email ?? '—'}</td>
<td>${u.serviceAccount ? 'service account' : u.admin ? 'admin' : 'researcher'}</td><td>${u.disabled ? html`<span class="status-revoked">disabled</span>` : 'active'}</td>
<td>${u.totp ? 'enrolled' : 'none'}</td><td>${utc(u.createdAt)}</td></tr>`)}</tbody></table></div>
<h2 id="add">Add a user</h2>
<p class="note">The new user gets a TOTP enrolment (QR code) and recovery codes, shown once on the next page: hand them over privately.</p>
<form method="post" action="/admin/users">${csrfField(p.csrf)}
<label for="new-name">User name</label><input type="text" id="new-name" name="name" required autocomplete="off" pattern="[A-Za-z0-9._@+-]+">
<label for="new-email">E-mail (optional)</label><input type="text" id="new-email" name="email" autocomplete="off">
<label for="new-password">Initial password</label><input type="password" id="new-password" name="password" required autocomplete="new-password">
<label for="new-cidrs">Allowed client networks (optional, comma-separated CIDRs)</label><input type="text" id="new-cidrs" name="source_cidrs" autocomplete="off">
<label><input type="checkbox" id="new-admin" name="admin" value="yes"> Operator (admin role)</label>
<button type="submit" id="add-user">Add user</button></form>`;
}

/** One user: facts and actions. */
export function userBody(p: { csrf: string; user: UserView; self: boolean; certificates: number; connections: number; notice: string | null }): Html {
  const u = p.user;
  const base = `/admin/users/${encodeURIComponent(u.name)}`;
  return html`<h1>User ${u.name}</h1>${notice(p.notice)}
<dl class="facts" id="user-facts"><dt>E-mail</dt><dd>${u.email ?? '—'}</dd><dt>Role</dt><dd id="user-role">${u.admin ? 'admin' : 'researcher'}</dd>
<dt>Status</dt><dd id="user-status">${u.disabled ? 'disabled' : 'active'}</dd><dt>One-time codes</dt><dd>${u.totp ? 'enrolled' : 'none'}</dd>
<dt>Extra principals</dt><dd>${u.extraPrincipals.join(', ') || '—'}</dd><dt>Client networks</dt><dd>${u.sourceCidrs.join(', ') || 'anywhere'}</dd>
<dt>Created</dt><dd>${utc(u.createdAt)}</dd>
<dt>Certificates</dt><dd><a href="/admin/certificates?q=${encodeURIComponent(u.name)}">${p.certificates} issued</a></dd>
<dt>Live connections</dt><dd><a href="/admin/connections?user=${encodeURIComponent(u.name)}">${p.connections} open</a></dd>
<dt>Audit</dt><dd><a href="/admin/audit?user=${encodeURIComponent(u.name)}">events of ${u.name}</a></dd></dl>
<h2>Actions</h2>
${u.disabled
    ? html`<form method="post" action="${base}/enable" class="inline">${csrfField(p.csrf)}<button type="submit" id="enable">Enable</button></form>`
    : html`<form method="post" action="${base}/disable" class="inline">${csrfField(p.csrf)}<button type="submit" class="danger" id="disable">Disable…</button></form>`}
<form method="post" action="${base}/reset-totp" class="inline">${csrfField(p.csrf)}<button type="submit" class="secondary" id="reset-totp">Reset one-time codes…</button></form>
${u.admin
    ? (p.self ? html`<p class="note">You cannot remove your own admin role.</p>` : html`<form method="post" action="${base}/admin" class="inline">${csrfField(p.csrf)}<input type="hidden" name="admin" value="remove"><button type="submit" class="secondary" id="remove-admin">Remove admin role</button></form>`)
    : html`<form method="post" action="${base}/admin" class="inline">${csrfField(p.csrf)}<input type="hidden" name="admin" value="grant"><button type="submit" class="secondary" id="grant-admin">Make admin</button></form>`}
<p><a href="/admin/users">Back to all users</a></p>`;
}

/** A confirmation step for an action that cannot be undone (no JavaScript needed). */
export function confirmBody(p: { csrf: string; title: string; text: string; action: string; button: string; back: string }): Html {
  return html`<h1>${p.title}</h1><p class="warn" role="alert">${p.text}</p>
<form method="post" action="${p.action}">${csrfField(p.csrf)}<input type="hidden" name="confirm" value="yes">
<button type="submit" class="danger" id="confirm">${p.button}</button> <a href="${p.back}" class="button secondary" id="cancel">Cancel</a></form>`;
}

/** The TOTP URI as an inline SVG QR code (markup, so the CSP needs no image source for it). */
async function qrSvg(uri: string): Promise<Html> {
  const svg = await QRCode.toString(uri, { type: 'svg', margin: 2, errorCorrectionLevel: 'M' });
  // The SVG comes from the qrcode library, not from input: only the URI's bits are in it, as path data.
  return html`<div class="qr" role="img" aria-label="QR code of the one-time code enrolment">${raw(svg)}</div>`;
}

/** The secrets of a new user or a TOTP reset, shown once. */
export async function enrolmentBody(p: { title: string; name: string; totpUri: string; recoveryCodes: string[] }): Promise<Html> {
  return html`<h1>${p.title}</h1>
<p class="warn" role="alert">Shown only this once: give these to <strong>${p.name}</strong> privately, then leave this page.</p>
<h2>One-time codes (TOTP)</h2><p>Scan the QR code with an authenticator app, or enter the URI.</p>
${await qrSvg(p.totpUri)}
<div class="copy-row"><pre class="wrap" id="totp-uri" data-copy="TOTP URI">${p.totpUri}</pre></div>
<h2>Recovery codes</h2><p>Each works once, instead of a one-time code.</p>
<pre id="recovery-codes" data-copy="recovery codes">${p.recoveryCodes.join('\n')}</pre>
<p><a href="/admin/users/${encodeURIComponent(p.name)}">Continue to ${p.name}</a></p>`;
}

/** The certificates page: KRL state, search, ledger, revoke. */
export function certificatesBody(p: { csrf: string; q: string; krl: KrlStatus; records: CertificateRecord[]; now: number; userMatch: string | null; notice: string | null }): Html {
  const status = (r: CertificateRecord) => (r.revokedAt !== null ? 'revoked' : r.validBefore <= p.now ? 'expired' : 'valid');
  return html`<h1>Certificates</h1>${notice(p.notice)}
<h2>Revocation list (KRL)</h2>
<dl class="facts" id="krl"><dt>Version</dt><dd id="krl-version">${p.krl.version}</dd><dt>Last changed</dt><dd id="krl-changed">${utc(p.krl.lastChangedAt)}</dd>
<dt>Serials listed</dt><dd>${p.krl.listed}</dd><dt>Download</dt><dd><a href="/api/v1/krl">/api/v1/krl</a> (what sshd's RevokedKeys reads)</dd></dl>
<h2>Ledger</h2>
<form method="get" action="/admin/certificates" role="search"><label for="q">Search by user name, serial or key fingerprint</label>
<input type="search" id="q" name="q" value="${p.q}"><button type="submit" id="search">Search</button></form>
${p.userMatch !== null ? html`<form method="post" action="/admin/certificates/revoke-user">${csrfField(p.csrf)}<input type="hidden" name="user" value="${p.userMatch}">
<button type="submit" class="danger" id="revoke-all">Revoke all of ${p.userMatch}'s certificates…</button></form>` : ''}
<div class="table-wrap"><table id="certificates"><caption class="note">${p.records.length} certificate(s), newest first</caption>
<thead><tr><th scope="col">Serial</th><th scope="col">User</th><th scope="col">Type</th><th scope="col">Key fingerprint</th><th scope="col">Valid until</th><th scope="col">Method</th><th scope="col">From</th><th scope="col">Status</th><th scope="col">Action</th></tr></thead>
<tbody>${p.records.map((r) => html`<tr data-serial="${r.serial.toString()}"><td class="mono">${r.serial.toString()}</td><td>${r.userName || r.principals.join(', ')}</td><td>${r.certType}</td>
<td class="mono">${r.fingerprint}</td><td>${utc(r.validBefore)}</td><td>${r.method}</td><td>${r.clientAddress ?? '—'}</td>
<td class="status-${status(r)}">${status(r)}</td>
<td>${status(r) === 'valid' ? html`<form method="post" action="/admin/certificates/${r.serial.toString()}/revoke" class="inline" data-confirm="Revoke certificate ${r.serial.toString()}?">${csrfField(p.csrf)}<button type="submit" class="danger" aria-label="Revoke certificate ${r.serial.toString()}">Revoke</button></form>` : ''}</td></tr>`)}</tbody></table></div>`;
}

function auditLink(q: AuditQuery, extra: Record<string, string>, path = '/admin/audit'): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...q, ...extra })) if (typeof v === 'string' && v !== '' && k !== 'before') params.set(k, v);
  if (extra.before !== undefined) params.set('before', extra.before);
  const s = params.toString();
  return s === '' ? path : `${path}?${s}`;
}

/** The audit page: filter, one page newest first, next page, export. */
export function auditBody(p: { q: AuditQuery; events: AuditEvent[]; next: number | null }): Html {
  const q = p.q;
  const outcome = (v: string, label: string) => html`<option value="${v}"${q.outcome === v ? raw(' selected') : ''}>${label}</option>`;
  return html`<h1>Audit</h1>
<form method="get" action="/admin/audit" role="search" id="audit-filter">
<div class="cards"><div><label for="f-user">User</label><input type="text" id="f-user" name="user" value="${q.user ?? ''}"></div>
<div><label for="f-type">Type or type prefix</label><input type="text" id="f-type" name="type" value="${q.type ?? ''}" placeholder="e.g. gateway or admin.user_disable"></div>
<div><label for="f-outcome">Outcome</label><select id="f-outcome" name="outcome">${outcome('', 'any')}${outcome('success', 'success')}${outcome('failure', 'failure')}${outcome('denied', 'denied')}</select></div>
<div><label for="f-from">From (UTC)</label><input type="text" id="f-from" name="from" value="${q.from ?? ''}" placeholder="2026-12-04T09:30"></div>
<div><label for="f-to">Until (UTC)</label><input type="text" id="f-to" name="to" value="${q.to ?? ''}" placeholder="2026-12-05"></div></div>
<button type="submit" id="filter">Filter</button> <a class="button secondary" id="export" href="${auditLink(q, {}, '/admin/audit/export')}">Export as JSON lines</a></form>
<div class="table-wrap"><table id="audit"><caption class="note">${p.events.length} event(s) on this page, newest first</caption>
<thead><tr><th scope="col">Time</th><th scope="col">Type</th><th scope="col">Outcome</th><th scope="col">User</th><th scope="col">From</th><th scope="col">Details</th></tr></thead>
<tbody>${p.events.map((e) => html`<tr><td>${utc(e.at)}</td><td>${e.type}</td><td>${e.outcome}</td><td>${e.actor ?? '—'}</td><td>${e.clientAddress ?? '—'}</td>
<td class="mono">${JSON.stringify(e.details)}</td></tr>`)}</tbody></table></div>
${p.next !== null ? html`<p><a class="button secondary" id="older" href="${auditLink(q, { before: String(p.next) })}">Older events</a></p>` : html`<p class="note">No older events.</p>`}
${q.before ? html`<p><a href="${auditLink(q, {})}">Back to the newest</a></p>` : ''}`;
}

/** The live connections page. */
export function connectionsBody(p: { csrf: string; user: string; connections: LiveConnectionRecord[]; now: number; notice: string | null }): Html {
  return html`<h1>Live gateway connections</h1>${notice(p.notice)}
<p class="note">Every replica's SSH connections, updated about every second. Ending one disconnects it with a message, within a second, on whichever replica holds it; the user may reconnect unless you also disable them or revoke their certificates.</p>
<form method="get" action="/admin/connections" role="search"><label for="f-user">User</label>
<input type="search" id="f-user" name="user" value="${p.user}"><button type="submit" id="filter">Filter</button></form>
<div class="table-wrap"><table id="connections"><caption class="note">${p.connections.length} connection(s)</caption>
<thead><tr><th scope="col">User</th><th scope="col">From</th><th scope="col">Since</th><th scope="col">Login</th><th scope="col">Channels</th><th scope="col">Bytes in / out</th><th scope="col">Action</th></tr></thead>
<tbody>${p.connections.map((c) => html`<tr data-user="${c.userName}"><td><a href="/admin/users/${encodeURIComponent(c.userName)}">${c.userName}</a></td><td>${c.clientAddress}</td>
<td>${utc(c.openedAt)} (${formatDuration(Math.max(0, p.now - c.openedAt))})</td><td>${c.method}${c.serial !== null ? html`, serial <span class="mono">${c.serial}</span>` : ''}</td>
<td>${c.channels.length === 0 && c.sessions === 0 ? 'none' : ''}${c.sessions > 0 ? html`${c.sessions} lobby session(s)<br>` : ''}${c.channels.map((ch) => html`${ch.target} (${ch.host}:${ch.port}) since ${utc(ch.openedAt)}<br>`)}</td>
<td>${bytes(c.bytesIn)} / ${bytes(c.bytesOut)}</td>
<td>${c.endRequestedAt !== null ? 'ending…' : html`<form method="post" action="/admin/connections/${c.id}/end" class="inline" data-confirm="End ${c.userName}'s connection from ${c.clientAddress}?">${csrfField(p.csrf)}<button type="submit" class="danger" aria-label="End ${c.userName}'s connection from ${c.clientAddress}">End</button></form>`}</td></tr>`)}</tbody></table></div>`;
}
