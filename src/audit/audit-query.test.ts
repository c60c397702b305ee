/** The operators' audit filter on both dialects: type prefixes (no LIKE wildcards), outcome, time range, pages newest first, JSON-lines export. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { STORE_DIALECTS } from '../../test/harness/store-fixtures.ts';
import { AUDIT_PAGE, auditExport, auditFilter, auditPage } from './audit-query.ts';

test('auditFilter: refuses malformed values with a sentence, reads zone-less times as UTC', () => {
  assert.throws(() => auditFilter({ type: 'gateway%' }), /not an event type/);
  assert.throws(() => auditFilter({ outcome: 'maybe' }), /success, failure or denied/);
  assert.throws(() => auditFilter({ from: 'yesterday' }), /not a date/);
  assert.throws(() => auditFilter({ before: '-1' }), /page marker/);
  assert.equal(auditFilter({ from: '2026-12-04T09:30' }).from, Date.UTC(2026, 11, 4, 9, 30));
  assert.equal(auditFilter({ to: '2026-12-05' }).to, Date.UTC(2026, 11, 5));
  assert.deepEqual(auditFilter({ user: ' ', type: '', outcome: '' }), { limit: AUDIT_PAGE });
});

for (const { dialect, skip, open } of STORE_DIALECTS) {
  test(`audit search (${dialect}): filters, prefix without wildcards, pages newest first, export`, { skip }, async () => {
    const fx = await open();
    try {
      const repo = fx.store.audit;
      const add = (at: number, type: string, outcome: 'success' | 'failure' | 'denied', actor: string) => repo.append({ at, type, outcome, actor, clientAddress: null, details: { at } });
      await add(1000, 'gateway.channel', 'success', 'alice');
      await add(2000, 'gateway.login', 'denied', 'alice');
      await add(3000, 'gatewayx.other', 'success', 'alice'); // not under the "gateway" prefix
      await add(4000, 'gateway_channel', 'success', 'alice'); // '_' must not act as a wildcard
      await add(5000, 'admin.user_disable', 'success', 'ops');
      for (let i = 0; i < AUDIT_PAGE + 5; i++) await add(10_000 + i, 'test.filler', 'success', 'filler');

      const types = async (q: Parameters<typeof auditPage>[1]) => (await auditPage(repo, q)).events.map((e) => e.type);
      assert.deepEqual(await types({ type: 'gateway' }), ['gateway.login', 'gateway.channel']);
      assert.deepEqual(await types({ type: 'gateway.channel' }), ['gateway.channel']);
      assert.deepEqual(await types({ user: 'alice', outcome: 'denied' }), ['gateway.login']);
      assert.deepEqual(await types({ user: 'alice', from: new Date(2000).toISOString(), to: new Date(4000).toISOString() }), ['gatewayx.other', 'gateway.login']);

      const first = await auditPage(repo, { user: 'filler' });
      assert.equal(first.events.length, AUDIT_PAGE);
      assert.equal(first.events[0]!.at, 10_000 + AUDIT_PAGE + 4, 'newest first');
      assert.notEqual(first.next, null);
      const second = await auditPage(repo, { user: 'filler', before: String(first.next) });
      assert.equal(second.events.length, 5);
      assert.equal(second.next, null);
      assert.equal(second.events[4]!.at, 10_000);

      const lines = (await auditExport(repo, { user: 'alice' })).trim().split('\n').map((l) => JSON.parse(l) as { type: string; at: string });
      assert.deepEqual(lines.map((l) => l.type), ['gateway_channel', 'gatewayx.other', 'gateway.login', 'gateway.channel']);
      assert.equal(lines[0]!.at, new Date(4000).toISOString());
      assert.equal(await auditExport(repo, { user: 'nobody' }), '');
    } finally {
      await fx.cleanup();
    }
  });
}
