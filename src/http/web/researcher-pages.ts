/**
 * The researcher's portal pages as HTML (hono/html escapes every interpolated value). Each form posts
 * to this origin with the CSRF token and works without the script; the script (portal-script.ts) only
 * adds copy buttons and the in-browser key generation.
 */
import type { Job } from '../../jobs/job.ts';
import { html } from 'hono/html';
import { formatDuration } from '../../duration.ts';
import type { GatewayTrust } from '../../gateway/host-key.ts';
import type { RegisteredKey, Target } from '../../inventory/ports.ts';
import type { CertificateRecord, Token, WebSessionRecord } from '../../store/repositories.ts';
import type { Html } from './layout.ts';

/** `2026-12-04 14:05 UTC`: one unambiguous form on every page. */
export function when(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** The state of a ledger entry at `now`. */
export function certStatus(r: CertificateRecord, now: number): 'valid' | 'revoked' | 'expired' {
  return r.revokedAt !== null ? 'revoked' : r.validBefore <= now ? 'expired' : 'valid';
}

function csrfField(csrf: string): Html {
  return html`<input type="hidden" name="csrf" value="${csrf}">`;
}

/** A command in a box with a copy button (added by the script). */
function command(label: string, text: string, id?: string): Html {
  return html`<div class="copy-row"><pre class="wrap"${id ? html` id="${id}"` : ''} data-copy="${label}">${text}</pre></div>`;
}

function flash(message: string | null, kind: 'ok' | 'error' = 'ok'): Html {
  if (message === null) return html``;
  return kind === 'ok' ? html`<p class="ok" role="status" id="result">${message}</p>` : html`<p class="error" role="alert" id="result">${message}</p>`;
}

/** What the home page shows. */
export interface HomeView {
  name: string;
  email: string | null;
  projects: { name: string; role: string }[];
  current: CertificateRecord[];
  keys: number;
  quota: { limit: number; used: number; left: number; nextSlotAt: number | null };
  now: number;
  targets: number;
}

/** Home: who I am, my projects, current certificates with time left, today's quota, what next. */
export function homeBody(v: HomeView): Html {
  const quotaLine = v.quota.left === 0
    ? html`<strong>0 of ${v.quota.limit}</strong> certificates left today; the next after ${v.quota.nextSlotAt === null ? 'a while' : when(v.quota.nextSlotAt)}, or revoke one you no longer use to free its slot now.`
    : html`<strong>${v.quota.left} of ${v.quota.limit}</strong> certificates left today${v.quota.nextSlotAt === null ? '' : html`; another frees up at ${when(v.quota.nextSlotAt)}`}.`;
  const next = v.current.length === 0
    ? html`<p>You have no valid certificate. <a class="button" href="/certificate">Get a certificate</a></p>`
    : v.targets === 0
      ? html`<p>Your certificate is valid, but no target is open to you yet: ask your project's PI to add one.</p>`
      : html`<p>Your certificate is valid. <a class="button" href="/targets">Connect to a target</a></p>`;
  return html`<h1>Welcome, ${v.name}</h1>
<section class="card" aria-labelledby="next-h"><h2 id="next-h">What to do next</h2>${next}</section>
<div class="cards">
<section class="card" aria-labelledby="me-h"><h2 id="me-h">Who I am</h2>
<dl class="facts"><dt>User</dt><dd id="home-user">${v.name}</dd><dt>E-mail</dt><dd>${v.email ?? 'none'}</dd><dt>Registered keys</dt><dd>${v.keys} (<a href="/keys">manage</a>)</dd></dl></section>
<section class="card" aria-labelledby="projects-h"><h2 id="projects-h">My projects</h2>
${v.projects.length === 0 ? html`<p>You are not a member of any project yet.</p>` : html`<ul id="home-projects">${v.projects.map((p) => html`<li>${p.name}${p.role === 'member' ? '' : html` (${p.role})`}</li>`)}</ul>`}</section>
<section class="card" aria-labelledby="certs-h"><h2 id="certs-h">Current certificates</h2>
${v.current.length === 0 ? html`<p>None.</p>` : html`<ul id="home-certs">${v.current.map((c) => html`<li><code>${c.fingerprint}</code>: <strong data-until="${c.validBefore}">${formatDuration(c.validBefore - v.now)}</strong> left (until ${when(c.validBefore)})</li>`)}</ul>`}
<p><a href="/certificates">All my certificates</a></p></section>
<section class="card" aria-labelledby="quota-h"><h2 id="quota-h">Today's quota</h2><p id="home-quota">${quotaLine}</p></section>
</div>`;
}

/** The certificate page: paste a key (no script needed) or generate one in the browser. */
export function certificateBody(p: { csrf: string; ttl: string; error: string | null }): Html {
  return html`<h1>Get a certificate</h1>
${flash(p.error, 'error')}
<p>A certificate lets your key log in through Airlock for ${p.ttl}. Get one with a key you already have, or let this page make a new key.</p>
<section class="card hidden" id="browser-key" aria-labelledby="gen-h"><h2 id="gen-h">Make a new key in this browser</h2>
<p>The page generates an Ed25519 key pair with your browser's own cryptography. <strong>The private key never leaves this page</strong>: only the public key is sent to Airlock to be signed. You get three files: <code>airlock-key</code> (private), <code>airlock-key-cert.pub</code> (certificate) and <code>airlock-key.pub</code>.</p>
<p><button type="button" id="generate">Generate key and certificate</button></p>
<div id="generated" aria-live="polite"></div>
<p>Then, in a terminal (move the files from your downloads folder first):</p>
${command('key setup commands', `mv ~/Downloads/airlock-key ~/Downloads/airlock-key-cert.pub ~/Downloads/airlock-key.pub ~/.ssh/\nchmod 600 ~/.ssh/airlock-key\nssh-add -t ${p.ttl.replace(/ /g, '')} ~/.ssh/airlock-key`, 'setup-commands')}
<p class="note"><code>ssh-add</code> loads the certificate next to the key by itself; <code>-t</code> drops both from the agent when the certificate expires.</p>
<p class="note">PuTTY on Windows: also download <code>airlock-key.ppk</code> (made in this page, like the key). In PuTTY (0.78 or newer) choose it under Connection › SSH › Auth › Credentials as the private key, and <code>airlock-key-cert.pub</code> as “Certificate to use with the private key”. Airlock never sees the private key.</p>
</section>
<section class="card" aria-labelledby="paste-h"><h2 id="paste-h">Sign a public key you already have</h2>
<form method="post" action="/certificate" id="sign-form" enctype="multipart/form-data">${csrfField(p.csrf)}
<label for="public_key">Public key (the contents of a <code>.pub</code> file, e.g. <code>~/.ssh/id_ed25519.pub</code>)</label>
<textarea id="public_key" name="public_key" rows="4" spellcheck="false" autocomplete="off"></textarea>
<label for="public_key_file">or choose the <code>.pub</code> file</label><input type="file" id="public_key_file" name="public_key_file" accept=".pub,text/plain">
<p><button type="submit" id="sign">Sign and download the certificate</button></p></form>
<p>Save the download next to your key with the key's name and <code>-cert.pub</code> (for <code>~/.ssh/id_ed25519</code>: <code>~/.ssh/id_ed25519-cert.pub</code>); ssh then uses it by itself.</p>
</section>`;
}

/** The keys page: add (paste or file), list with fingerprint, type and date, delete. */
export function keysBody(p: { csrf: string; keys: RegisteredKey[]; message: string | null; error: string | null }): Html {
  return html`<h1>My keys</h1>
${flash(p.message)}${flash(p.error, 'error')}
<p>Registered public keys can log in at the gateway where your project allows it, and orchestrators can put them on new machines.</p>
${p.keys.length === 0 ? html`<p id="no-keys">You have no registered keys.</p>` : html`<div class="table-wrap"><table id="keys-table"><caption class="note">Your registered keys, oldest first</caption>
<thead><tr><th scope="col">Fingerprint</th><th scope="col">Type</th><th scope="col">Comment</th><th scope="col">Added</th><th scope="col">Action</th></tr></thead><tbody>
${p.keys.map((k) => html`<tr><td class="mono">${k.fingerprint}</td><td>${k.type}${k.bits ? html` (${k.bits} bits)` : ''}</td><td>${k.comment}</td><td>${when(k.createdAt)}</td>
<td><form method="post" action="/keys/delete" class="inline">${csrfField(p.csrf)}<input type="hidden" name="fingerprint" value="${k.fingerprint}"><button type="submit" class="danger" aria-label="Delete key ${k.fingerprint}">Delete</button></form></td></tr>`)}
</tbody></table></div>`}
<h2 id="add-h">Add a key</h2>
<form method="post" action="/keys" enctype="multipart/form-data" aria-labelledby="add-h">${csrfField(p.csrf)}
<label for="key-text">Public key (one line from a <code>.pub</code> file, or PuTTYgen's SSH2 public key)</label>
<textarea id="key-text" name="public_key" rows="3" spellcheck="false" autocomplete="off"></textarea>
<label for="key-file">or choose the file</label><input type="file" id="key-file" name="key_file" accept=".pub,text/plain">
<p><button type="submit" id="add-key">Add key</button></p></form>`;
}

/** The ledger of my certificates, with revoke one and revoke all (each confirmed on its own page). */
export function certificatesBody(p: { certs: CertificateRecord[]; now: number; message: string | null }): Html {
  const valid = p.certs.filter((c) => certStatus(c, p.now) === 'valid').length;
  return html`<h1>My certificates</h1>
${flash(p.message)}
<p>Every certificate issued to you, newest first. Revoke one you no longer use, or all of them if a key may have been copied: the gateway and every target that reads Airlock's revocation list refuse them at once.</p>
${valid > 0 ? html`<p><a class="button secondary" id="revoke-all" href="/certificates/revoke-all">Revoke all my valid certificates…</a></p>` : ''}
${p.certs.length === 0 ? html`<p>No certificates yet. <a href="/certificate">Get one</a>.</p>` : html`<div class="table-wrap"><table id="certs-table"><caption class="note">${valid} valid of ${p.certs.length}</caption>
<thead><tr><th scope="col">Serial</th><th scope="col">Key fingerprint</th><th scope="col">Valid</th><th scope="col">Status</th><th scope="col">Method</th><th scope="col">Client address</th><th scope="col">Action</th></tr></thead><tbody>
${p.certs.map((c) => {
    const st = certStatus(c, p.now);
    return html`<tr data-serial="${c.serial.toString()}"><td class="mono">${c.serial.toString()}</td><td class="mono">${c.fingerprint}</td><td>${when(c.validAfter)} – ${when(c.validBefore)}</td>
<td class="status-${st}">${st}</td><td>${c.method}</td><td>${c.clientAddress ?? 'unknown'}</td>
<td>${st === 'valid' ? html`<a href="/certificates/revoke?serial=${c.serial.toString()}" id="revoke-${c.serial.toString()}" aria-label="Revoke certificate ${c.serial.toString()}">Revoke…</a>` : ''}</td></tr>`;
  })}
</tbody></table></div>`}`;
}

/** The confirmation step before revoking one certificate or all. */
export function confirmRevokeBody(p: { csrf: string; cert: CertificateRecord | null; count: number }): Html {
  const what = p.cert === null ? html`all <strong>${p.count}</strong> of your valid certificates` : html`the certificate <strong class="mono">${p.cert.serial.toString()}</strong> (key <code>${p.cert.fingerprint}</code>, valid until ${when(p.cert.validBefore)})`;
  return html`<h1>Revoke ${p.cert === null ? 'all certificates' : 'a certificate'}?</h1>
<p class="warn">You are about to revoke ${what}. Connections that use ${p.cert === null ? 'them' : 'it'} are ended and refused from now on. This cannot be undone; you can get a new certificate afterwards (it counts against today's quota).</p>
<form method="post" action="${p.cert === null ? '/certificates/revoke-all' : '/certificates/revoke'}">${csrfField(p.csrf)}
${p.cert === null ? '' : html`<input type="hidden" name="serial" value="${p.cert.serial.toString()}">`}
<button type="submit" class="danger" id="confirm-revoke">Yes, revoke</button> <a class="button secondary" href="/certificates">Cancel</a></form>`;
}

/** One target as the targets page shows it. */
export interface TargetView {
  target: Target;
  sshJ: string;
  tunnels: { service: string; line: string; url: string }[];
}

/** A job open to the researcher, with its ready command. */
export interface JobView {
  job: Job;
  command: string;
  /** The gateway host and the user name, for PuTTY's fields. */
  host: string;
  user: string;
}

/** Targets per project and jobs with copy-ready commands, and the ssh config to download. */
export function targetsBody(p: { gateway: string | null; targets: TargetView[]; jobs?: JobView[]; skipped: { name: string; reason: string }[]; home: string }): Html {
  const byProject = new Map<string, TargetView[]>();
  for (const t of p.targets) byProject.set(t.target.projectName, [...(byProject.get(t.target.projectName) ?? []), t]);
  return html`<h1>Targets</h1>
${p.gateway === null ? html`<p class="warn">The gateway's address is not known to this server; ask your operators.</p>` : html`<p>Everything goes through the gateway <code>${p.gateway}</code>.</p>`}
${p.targets.length === 0 ? html`<p id="no-targets">No target is open to you yet: ask your project's PI.</p>` : [...byProject].map(([project, list]) => html`<section aria-labelledby="p-${project}"><h2 id="p-${project}">Project ${project}</h2>
${list.map((t) => html`<div class="card target" id="target-${t.target.name}"><h3>${t.target.name}</h3>
<p>Log in (with your certificate loaded):</p>${command(`ssh command for ${t.target.name}`, t.sshJ)}
${t.tunnels.length === 0 ? '' : html`<p>Services (run the line, then open the address it prints):</p>${t.tunnels.map((s) => html`${command(`tunnel command for ${s.service}`, s.line)}<p class="note">Then open <code>${s.url}</code> (the tunnel prints the exact address).</p>`)}`}</div>`)}</section>`)}
${(p.jobs ?? []).length === 0 ? '' : html`<section aria-labelledby="jobs-h"><h2 id="jobs-h">Jobs</h2>
<p>Each job has a port of its own on the gateway: the command below needs no ssh config, and works for as long as the job runs.</p>
${(p.jobs ?? []).map((j) => html`<div class="card job" id="job-${j.job.name}"><h3>${j.job.name} <span class="note">(project ${j.job.projectName}, until ${new Date(j.job.expiresAt).toISOString().slice(0, 16).replace('T', ' ')} UTC)</span></h3>
${command(`ssh command for job ${j.job.name}`, j.command)}${j.job.services.length === 0 ? '' : html`<p class="note">The <code>-L</code> options forward the job's services (${j.job.services.map((s) => s.name).join(', ')}) to the same ports here.</p>`}
<p class="note">PuTTY: Host Name <code>${j.host}</code>, Port <code>${j.job.port}</code>, user <code>${j.user}</code>.</p></div>`)}</section>`}
<h2 id="config-h">ssh config for all your targets</h2>
<p>The same files <code>airlock config</code> writes: save them as <code>~/.ssh/airlock/config</code> and <code>~/.ssh/airlock/known_hosts</code>, then add <code>Include ~/.ssh/airlock/config</code> at the top of <code>~/.ssh/config</code>. After that <code>ssh TARGET</code> works by its name.</p>
<form method="get" action="/targets/ssh-config" aria-labelledby="config-h"><label for="home">Your home directory (the files name absolute paths)</label>
<input type="text" id="home" name="home" value="${p.home}" spellcheck="false" autocomplete="off">
<p><button type="submit" id="download-config">Download config</button><button type="submit" class="secondary" formaction="/targets/known-hosts" id="download-known-hosts">Download known_hosts</button></p></form>
${p.skipped.length === 0 ? '' : html`<p class="warn">Left out of the config: ${p.skipped.map((s) => `${s.name} (${s.reason})`).join('; ')}.</p>`}`;
}

/** Gateway trust: endpoint, fingerprint, randomart, known_hosts and @cert-authority lines. */
export function trustBody(p: { trust: GatewayTrust | null; certAuthorityLine: string; userCaLine: string }): Html {
  const t = p.trust;
  return html`<h1>Gateway trust</h1>
<p>Before your first connection, check that the fingerprint ssh shows is the one below. Adding these lines to your known_hosts file means ssh never has to ask.</p>
${t === null ? html`<p class="warn">The SSH gateway does not run in this process and no public address is configured; ask your operators for its fingerprint.</p>` : html`
<dl class="facts"><dt>SSH endpoint</dt><dd id="trust-endpoint">${t.endpoint ?? 'not configured'}</dd><dt>Host key fingerprint</dt><dd id="trust-fingerprint" class="mono">${t.fingerprint}</dd></dl>
<h2 id="art-h">Randomart</h2><pre id="trust-randomart" aria-labelledby="art-h">${t.randomart}</pre>
<h2>known_hosts line for the gateway</h2>${t.knownHostsLine === null ? html`<p>Not available: the gateway's public address is not configured.</p>` : command('known_hosts line', t.knownHostsLine, 'trust-known-hosts')}`}
<h2>@cert-authority line for the targets</h2><p>Targets present host certificates signed by Airlock's host CA; this line makes ssh trust them without asking (narrow the <code>*</code> to your targets' names if you like).</p>
${command('@cert-authority line', p.certAuthorityLine, 'trust-cert-authority')}
<h2>User CA (for operators of targets)</h2><p>sshd trusts Airlock certificates with this key in <code>TrustedUserCAKeys</code>.</p>${command('user CA key', p.userCaLine, 'trust-user-ca')}`;
}

/** The account page: TOTP re-enrolment, recovery codes left, sessions and tokens, sign out everywhere. */
export function accountBody(p: {
  csrf: string; hasTotp: boolean; recoveryLeft: number; webSessions: WebSessionRecord[]; tokens: Token[]; currentSessionId: string;
  message: string | null; error: string | null; qr: { dataUrl: string; uri: string } | null;
}): Html {
  return html`<h1>Account</h1>
${flash(p.message)}${flash(p.error, 'error')}
${p.qr === null ? '' : html`<section class="card" aria-labelledby="qr-h"><h2 id="qr-h">Your new one-time code secret</h2>
<p class="warn">Scan this now with your authenticator app: it is shown only once. Your old codes no longer work.</p>
<p class="qr"><img src="${p.qr.dataUrl}" alt="QR code of your new one-time code secret" width="224" height="224" id="totp-qr"></p>
<p>Or enter this address in the app:</p>${command('otpauth address', p.qr.uri, 'totp-uri')}</section>`}
<section aria-labelledby="totp-h"><h2 id="totp-h">One-time codes (TOTP)</h2>
${p.hasTotp ? html`<p>You have <strong id="recovery-left">${p.recoveryLeft}</strong> unused recovery code${p.recoveryLeft === 1 ? '' : 's'}.${p.recoveryLeft <= 2 ? ' Ask your operators for new ones before they run out.' : ''}</p>
<p>New phone, or lost your authenticator? Enter one of your recovery codes to get a new secret (the code is used up).</p>
<form method="post" action="/account/totp">${csrfField(p.csrf)}
<label for="recovery_code">Recovery code</label><input type="text" id="recovery_code" name="recovery_code" autocomplete="off" spellcheck="false" required>
<p><button type="submit" id="reenrol">Set up a new authenticator</button></p></form>` : html`<p id="no-totp">You sign in through your identity provider: Airlock keeps no one-time codes for you.</p>`}</section>
<section aria-labelledby="sessions-h"><h2 id="sessions-h">Where you are signed in</h2>
<div class="table-wrap"><table id="web-sessions"><caption class="note">Browsers</caption><thead><tr><th scope="col">Signed in</th><th scope="col">Method</th><th scope="col">Ends</th><th scope="col">This browser</th></tr></thead><tbody>
${p.webSessions.map((s) => html`<tr><td>${when(s.createdAt)}</td><td>${s.method}</td><td>${when(s.expiresAt)}</td><td>${s.id === p.currentSessionId ? 'yes' : ''}</td></tr>`)}</tbody></table></div>
<div class="table-wrap"><table id="cli-tokens"><caption class="note">Command line and API tokens</caption><thead><tr><th scope="col">Kind</th><th scope="col">Created</th><th scope="col">Ends</th><th scope="col">Last used</th></tr></thead><tbody>
${p.tokens.length === 0 ? html`<tr><td colspan="4">None.</td></tr>` : p.tokens.map((t) => html`<tr><td>${t.kind === 'session' ? 'airlock login' : 'API token'}</td><td>${when(t.createdAt)}</td><td>${when(t.expiresAt)}</td><td>${t.lastUsedAt === null ? 'never' : when(t.lastUsedAt)}</td></tr>`)}</tbody></table></div>
<form method="post" action="/account/sign-out-everywhere">${csrfField(p.csrf)}
<p><button type="submit" class="danger" id="sign-out-everywhere">Sign out everywhere</button></p>
<p class="note">Ends every browser session and command-line login, this one too. Certificates stay valid until they expire: revoke them on <a href="/certificates">My certificates</a> if a key may be lost.</p></form></section>`;
}
