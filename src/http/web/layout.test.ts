/** The layout's navigation by role, and that it carries no inline style or script (the CSP forbids both). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { html } from 'hono/html';
import { OPERATOR_NAV, canSee, portalLayout, publicLayout, type Viewer } from './layout.ts';

const render = async (viewer: Viewer) => String(await portalLayout({ title: 'T', viewer, csrf: 'c'.repeat(43), current: '/keys', body: html`<p>body</p>` }));

test('researchers see no operator link; PIs see the project pages; admins see all', async () => {
  const researcher = await render({ name: 'r', isAdmin: false, isPi: false });
  assert.doesNotMatch(researcher, /href="\/admin/);
  const pi = await render({ name: 'p', isAdmin: false, isPi: true });
  assert.match(pi, /href="\/admin\/projects"/);
  assert.doesNotMatch(pi, /href="\/admin\/users"/);
  const admin = await render({ name: 'a', isAdmin: true, isPi: false });
  for (const l of OPERATOR_NAV) assert.ok(admin.includes(`href="${l.href}"`), l.href);
  assert.ok(OPERATOR_NAV.every((l) => canSee({ name: 'a', isAdmin: true, isPi: false }, l)));
});

test('landmarks, the current page marked, and no inline style or script', async () => {
  const page = await render({ name: '<b>x</b>', isAdmin: false, isPi: false });
  assert.match(page, /<header[^>]*>/);
  assert.match(page, /<nav [^>]*aria-label="Portal"/);
  assert.match(page, /<main id="main"/);
  assert.match(page, /<footer/);
  assert.match(page, /<a href="\/keys" aria-current="page">/);
  assert.match(page, /&lt;b&gt;x&lt;\/b&gt;/, 'the user name is escaped');
  for (const p of [page, String(await publicLayout('T', html`<p>x</p>`))]) {
    assert.doesNotMatch(p, /<style|style=|<script>|\son[a-z]+=/);
    assert.match(p, /<link rel="stylesheet" href="\/assets\/portal.css">/);
  }
});
