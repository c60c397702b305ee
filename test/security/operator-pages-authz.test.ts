/**
 * Operator pages' authorisation (issue 12: "checks the role on the server"): the role is checked on
 * every request before anything is read or changed, whatever the navigation shows. A researcher with
 * a valid session and their own valid CSRF token is refused every operator page and action; a PI
 * manages only their own project's members and targets, cannot give the project admin role, and
 * cannot reach the administrators' pages; without a CSRF token even an admin's POST is refused; a
 * signed-out POST is refused. Each refusal leaves the store unchanged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, TEST_PASSWORD } from '../harness/in-process.ts';
import { WebClient } from '../harness/web-client.ts';

const OPS = { name: 'test', clientAddress: null };

async function signIn(base: string, name: string, code: string): Promise<WebClient> {
  const web = new WebClient(base);
  await web.get('/login');
  const res = await web.post('/login/password', { user: name, password: TEST_PASSWORD, otp: code });
  assert.equal(res.status, 303, `${name} signs in`);
  return web;
}

test('operator pages: researchers and PIs are refused beyond their role, on GET and on forged POSTs with their own CSRF token', async () => {
  const srv = await startTestServer();
  try {
    const core = srv.server.core;
    const admin = await srv.addUser('ada');
    await core.userAdmin.setAdmin('ada', true, OPS);
    const rita = await srv.addUser('rita');
    const pia = await srv.addUser('pia');
    await srv.addUser('max');
    await core.inventory.addProject('mine', OPS);
    await core.inventory.addProject('theirs', OPS);
    await core.inventory.addMember('mine', 'pia', 'pi', OPS);
    await core.inventory.addMember('mine', 'rita', 'member', OPS);
    await core.inventory.addTarget({ name: 'their-vm', projectName: 'theirs', host: '192.0.2.7', port: 22, loginUser: null, services: [], allowedCidrs: [], expiresAt: null }, OPS);
    const auditCount = async () => (await core.store.audit.list({ since: 0 })).filter((e) => !e.type.startsWith('auth.') && !e.type.startsWith('web.')).length;

    // A researcher: every page and every action.
    const r = await signIn(srv.url, 'rita', srv.totp(rita.secret));
    for (const path of ['/admin', '/admin/users', '/admin/users/ada', '/admin/projects', '/admin/targets', '/admin/tokens', '/admin/certificates', '/admin/audit', '/admin/audit/export', '/admin/connections']) {
      const res = await r.get(path);
      assert.equal(res.status, 403, `GET ${path}`);
      assert.match(res.text, /Not allowed/);
      assert.doesNotMatch(res.text, /ada@|otpauth|<table/, `GET ${path} shows nothing of the operator page`);
    }
    const before = await auditCount();
    for (const [path, form] of [
      ['/admin/users', { name: 'mallory', password: 'mallory password 123' }],
      ['/admin/users/rita/admin', { admin: 'grant' }],
      ['/admin/users/ada/disable', { confirm: 'yes' }],
      ['/admin/users/ada/reset-totp', { confirm: 'yes' }],
      ['/admin/projects/mine/members', { user: 'rita', role: 'pi' }],
      ['/admin/targets', { name: 'x', project: 'mine', host: '192.0.2.9', port: '22' }],
      ['/admin/tokens', { account: 'bot', scope: 'targets:write', ttl: '1d' }],
      ['/admin/certificates/revoke-user', { user: 'ada', confirm: 'yes' }],
    ] as const) {
      const res = await r.post(path, form);
      assert.equal(res.status, 403, `POST ${path}`);
    }
    assert.equal((await core.store.users.byName('rita'))!.isAdmin, false);
    assert.equal((await core.store.users.byName('ada'))!.disabled, false);
    assert.equal(await core.store.users.byName('mallory'), undefined);
    assert.equal(await auditCount(), before, 'nothing was done, so nothing was audited');

    // A PI: their own project only, no project admin role, no administrators' pages.
    const p = await signIn(srv.url, 'pia', srv.totp(pia.secret));
    assert.equal((await p.get('/admin/users')).status, 403);
    assert.equal((await p.get('/admin/audit')).status, 403);
    const projects = await p.get('/admin/projects');
    assert.equal(projects.status, 200);
    assert.match(projects.text, /mine/);
    assert.doesNotMatch(projects.text, /theirs/);
    assert.doesNotMatch((await p.get('/admin/targets')).text, /their-vm/);
    assert.equal((await p.post('/admin/projects/mine/members', { user: 'max', role: 'member' })).status, 303);
    assert.equal((await p.post('/admin/projects/mine/members', { user: 'max', role: 'admin' })).status, 403);
    assert.equal((await p.post('/admin/projects/theirs/members', { user: 'max', role: 'member' })).status, 403);
    assert.equal((await p.post('/admin/projects/nonexistent/members', { user: 'max', role: 'member' })).status, 403, 'the same answer for a project that does not exist');
    assert.equal((await p.post('/admin/targets', { name: 'pi-vm', project: 'theirs', host: '192.0.2.8', port: '22' })).status, 403);
    assert.equal((await p.post('/admin/targets/their-vm/remove', {})).status, 404);
    assert.equal((await p.post('/admin/projects', { name: 'newproj' })).status, 403);
    assert.equal((await p.post('/admin/targets', { name: 'pi-vm', project: 'mine', host: '192.0.2.8', port: '22' })).status, 303);
    assert.ok(await core.inventory.targetByName('their-vm'));
    assert.equal((await core.inventory.targetByName('pi-vm'))?.projectName, 'mine');
    assert.deepEqual((await core.store.projects.members((await core.store.projects.byName('mine'))!.id)).map((m) => `${m.userName}:${m.role}`).sort(), ['max:member', 'pia:pi', 'rita:member']);
    assert.equal(await core.store.projects.byName('newproj'), undefined);

    // An admin without the CSRF token, and a signed-out browser, are refused.
    const a = await signIn(srv.url, 'ada', srv.totp(admin.secret));
    a.cookies.delete('__Host-airlock_csrf');
    assert.equal((await a.post('/admin/users/rita/admin', { admin: 'grant' })).status, 403);
    const anon = new WebClient(srv.url);
    await anon.get('/login');
    assert.equal((await anon.post('/admin/users/rita/admin', { admin: 'grant' })).status, 401);
    assert.equal((await anon.get('/admin/users')).status, 303);
    assert.equal((await core.store.users.byName('rita'))!.isAdmin, false);
  } finally {
    await srv.stop();
  }
});
