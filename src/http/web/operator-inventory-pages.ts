/**
 * The operator pages' content for the inventory (issue 12 item 9): projects with members and roles,
 * targets with services, client networks and expiry, and orchestrators' API tokens (the secret shown
 * once). Markup only; operator-routes.ts decides who may see and change what.
 */
import { html, raw } from 'hono/html';
import type { ProjectWithMembers } from '../../inventory/inventory.ts';
import type { Project, Target } from '../../inventory/ports.ts';
import { API_SCOPES } from '../../inventory/api-scopes.ts';
import type { UserView } from '../../identity/user-admin.ts';
import type { Html } from './layout.ts';
import { csrfField, notice, utc } from './operator-pages.ts';

/** The projects page: each visible project with its members; adding projects is for admins. */
export function projectsBody(p: { csrf: string; projects: ProjectWithMembers[]; isAdmin: boolean; notice: string | null }): Html {
  const roleOptions = (current: string) => (p.isAdmin ? ['member', 'pi', 'admin'] : ['member', 'pi'])
    .map((r) => html`<option value="${r}"${r === current ? raw(' selected') : ''}>${r === 'pi' ? 'PI' : r}</option>`);
  return html`<h1>Projects</h1>${notice(p.notice)}
${p.isAdmin ? '' : html`<p class="note">You see the projects you lead (PI role). Members reach every target of the project.</p>`}
${p.projects.length === 0 ? html`<p>No projects yet.</p>` : ''}
${p.projects.map((proj) => {
    const base = `/admin/projects/${encodeURIComponent(proj.name)}`;
    return html`<section class="card" id="project-${proj.name}" aria-labelledby="h-project-${proj.name}"><h2 id="h-project-${proj.name}">${proj.name}</h2>
<div class="table-wrap"><table><caption class="note">${proj.members.length} member(s)</caption>
<thead><tr><th scope="col">User</th><th scope="col">Role</th><th scope="col">Action</th></tr></thead>
<tbody>${proj.members.map((m) => html`<tr><td>${m.userName}</td><td>${m.role === 'pi' ? 'PI' : m.role}</td>
<td><form method="post" action="${base}/members/${encodeURIComponent(m.userName)}/remove" class="inline" data-confirm="Remove ${m.userName} from ${proj.name}?">${csrfField(p.csrf)}<button type="submit" class="secondary" aria-label="Remove ${m.userName} from ${proj.name}">Remove</button></form></td></tr>`)}</tbody></table></div>
<form method="post" action="${base}/members">${csrfField(p.csrf)}
<label for="member-${proj.name}">Add a member or change a role: user name</label><input type="text" id="member-${proj.name}" name="user" required autocomplete="off">
<label for="role-${proj.name}">Role</label><select id="role-${proj.name}" name="role">${roleOptions('member')}</select>
<button type="submit" aria-label="Save membership in ${proj.name}">Save membership</button></form></section>`;
  })}
${p.isAdmin ? html`<h2 id="add">Add a project</h2><form method="post" action="/admin/projects">${csrfField(p.csrf)}
<label for="new-project">Project name</label><input type="text" id="new-project" name="name" required autocomplete="off">
<button type="submit" id="add-project">Add project</button></form>` : ''}`;
}

/** The targets page: list with services, networks and expiry; add and remove within the viewer's projects. */
export function targetsBody(p: { csrf: string; targets: Target[]; projects: Project[]; now: number; notice: string | null }): Html {
  return html`<h1>Targets</h1>${notice(p.notice)}
<div class="table-wrap"><table id="targets"><caption class="note">${p.targets.length} target(s)</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Project</th><th scope="col">Address</th><th scope="col">Login</th><th scope="col">Services</th><th scope="col">Client networks</th><th scope="col">Expires</th><th scope="col">Action</th></tr></thead>
<tbody>${p.targets.map((t) => html`<tr><td>${t.name}</td><td>${t.projectName}</td><td class="mono">${t.host}:${t.port}</td><td>${t.loginUser ?? '—'}</td>
<td>${t.services.map((s) => html`${s.name}=${s.port}${s.path ?? ''}${s.token !== null ? ' (with token)' : ''}<br>`)}</td>
<td>${t.allowedCidrs.join(', ') || 'any'}</td><td>${t.expiresAt === null ? 'never' : utc(t.expiresAt)}</td>
<td><form method="post" action="/admin/targets/${encodeURIComponent(t.name)}/remove" class="inline" data-confirm="Remove target ${t.name}?">${csrfField(p.csrf)}<button type="submit" class="danger" aria-label="Remove target ${t.name}">Remove</button></form></td></tr>`)}</tbody></table></div>
${p.projects.length === 0 ? html`<p class="note">Create a project first: targets belong to a project.</p>` : html`<h2 id="add">Add a target</h2>
<form method="post" action="/admin/targets">${csrfField(p.csrf)}
<label for="t-name">Name (what researchers type: ssh NAME)</label><input type="text" id="t-name" name="name" required autocomplete="off">
<label for="t-project">Project</label><select id="t-project" name="project">${p.projects.map((proj) => html`<option value="${proj.name}">${proj.name}</option>`)}</select>
<label for="t-host">Address (IP or host name)</label><input type="text" id="t-host" name="host" required autocomplete="off">
<label for="t-port">SSH port</label><input type="text" id="t-port" name="port" value="22" inputmode="numeric" required>
<label for="t-login">Login user (optional)</label><input type="text" id="t-login" name="login_user" autocomplete="off">
<label for="t-services">Services, one per line: NAME=PORT[/path][?token=TOKEN]</label><textarea id="t-services" name="services" placeholder="jupyter=8888/lab?token=abc"></textarea>
<label for="t-cidrs">Allowed client networks (optional, comma-separated CIDRs)</label><input type="text" id="t-cidrs" name="allowed_cidrs" autocomplete="off">
<label for="t-expires">Expires in (optional, e.g. 8h or 30d; empty = never)</label><input type="text" id="t-expires" name="expires_in" autocomplete="off">
<button type="submit" id="add-target">Add target</button></form>`}`;
}

/** The API tokens page: service accounts and a form for a new token. */
export function tokensBody(p: { csrf: string; accounts: UserView[]; projects: Project[]; notice: string | null }): Html {
  return html`<h1>API tokens</h1>${notice(p.notice)}
<p class="note">Orchestrators (an OpenStack, Slurm or Kubernetes hook) register targets with a token of a service account. A service account can never sign in or get a certificate.</p>
<div class="table-wrap"><table id="accounts"><caption class="note">${p.accounts.length} service account(s)</caption>
<thead><tr><th scope="col">Service account</th><th scope="col">Status</th><th scope="col">Created</th><th scope="col">Action</th></tr></thead>
<tbody>${p.accounts.map((a) => html`<tr><td>${a.name}</td><td>${a.disabled ? 'disabled' : 'active'}</td><td>${utc(a.createdAt)}</td>
<td><form method="post" action="/admin/tokens/${encodeURIComponent(a.name)}/revoke" class="inline" data-confirm="Revoke every token of ${a.name}?">${csrfField(p.csrf)}<button type="submit" class="danger" aria-label="Revoke all tokens of ${a.name}">Revoke all tokens</button></form></td></tr>`)}</tbody></table></div>
<h2 id="create">Create a token</h2>
<form method="post" action="/admin/tokens">${csrfField(p.csrf)}
<label for="k-account">Service account (created if new)</label><input type="text" id="k-account" name="account" required autocomplete="off">
<fieldset><legend>Scopes</legend>${API_SCOPES.map((s) => html`<label><input type="checkbox" name="scope" value="${s}"${s === 'targets:write' ? raw(' checked') : ''}> ${s}</label>`)}</fieldset>
<label for="k-project">Only for project</label><select id="k-project" name="project"><option value="">any project</option>${p.projects.map((proj) => html`<option value="${proj.name}">${proj.name}</option>`)}</select>
<label for="k-ttl">Lifetime (e.g. 90d, at most 366d)</label><input type="text" id="k-ttl" name="ttl" value="90d" required>
<button type="submit" id="create-token">Create token</button></form>`;
}

/** A new API token's secret, shown once. */
export function tokenCreatedBody(p: { account: string; token: string; scopes: string[]; project: string | null; expiresAt: number }): Html {
  return html`<h1>Token for ${p.account}</h1>
<p class="warn" role="alert">Copy the token now: it is shown only this once and stored only as a hash.</p>
<div class="copy-row"><pre class="wrap" id="api-token" data-copy="API token">${p.token}</pre></div>
<dl class="facts"><dt>Scopes</dt><dd>${p.scopes.join(', ')}</dd><dt>Project</dt><dd>${p.project ?? 'any'}</dd><dt>Expires</dt><dd>${utc(p.expiresAt)}</dd></dl>
<p>Use it as <code>Authorization: Bearer TOKEN</code> against <code>/api/v1/targets</code>.</p>
<p><a href="/admin/tokens">Back to API tokens</a></p>`;
}
