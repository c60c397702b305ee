import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RefusalLog, SessionLimits, type RefusalSummary } from './admission.ts';

test('connections per user and per address: the next one is refused with a clear message; release frees it once', () => {
  const l = new SessionLimits({ maxConnectionsPerUser: 2, maxConnectionsPerAddress: 3, maxChannelsPerUser: 5 });
  const a1 = l.openConnection('u1', 'alice', '192.0.2.1');
  const a2 = l.openConnection('u1', 'alice', '192.0.2.2');
  assert.ok(a1.ok && a2.ok);
  const a3 = l.openConnection('u1', 'alice', '192.0.2.3');
  assert.equal(!a3.ok && a3.reason, 'connections_per_user');
  assert.match(!a3.ok ? a3.message : '', /^Too many connections for alice: at most 2 at a time\. Close one/);
  assert.ok(l.openConnection('u2', 'bob', '192.0.2.1').ok);
  assert.ok(l.openConnection('u3', 'carol', '192.0.2.1').ok);
  const d = l.openConnection('u4', 'dave', '192.0.2.1');
  assert.equal(!d.ok && d.reason, 'connections_per_address');
  assert.match(!d.ok ? d.message : '', /from 192\.0\.2\.1: at most 3/);
  a1.release();
  a1.release();
  assert.equal(l.stats().connections, 3);
  assert.ok(l.openConnection('u1', 'alice', '192.0.2.3').ok);
  // IPv6: one /64 is one address.
  const v6 = new SessionLimits({ maxConnectionsPerUser: 10, maxConnectionsPerAddress: 1, maxChannelsPerUser: 5 });
  assert.ok(v6.openConnection('u1', 'a', '2001:db8::1').ok);
  assert.equal(v6.openConnection('u2', 'b', '2001:db8::2').ok, false);
});

test('channels per user count over all connections', () => {
  const l = new SessionLimits({ maxConnectionsPerUser: 2, maxConnectionsPerAddress: 3, maxChannelsPerUser: 3 });
  const held = [l.openChannel('u1', 'alice'), l.openChannel('u1', 'alice'), l.openChannel('u1', 'alice')];
  assert.ok(held.every((h) => h.ok));
  const next = l.openChannel('u1', 'alice');
  assert.equal(!next.ok && next.reason, 'channels_per_user');
  assert.match(!next.ok ? next.message : '', /at most 3 over all your connections/);
  assert.ok(l.openChannel('u2', 'bob').ok);
  if (held[0]!.ok) held[0]!.release();
  assert.ok(l.openChannel('u1', 'alice').ok);
});

test('counters never go negative or above the limits (property)', () => {
  fc.assert(fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 3 })), { maxLength: 200 }), (ops) => {
    const l = new SessionLimits({ maxConnectionsPerUser: 3, maxConnectionsPerAddress: 4, maxChannelsPerUser: 2 });
    const open: (() => void)[] = [];
    for (const [add, n] of ops) {
      if (add) {
        const v = l.openConnection(`u${n}`, `user${n}`, `192.0.2.${n % 2}`);
        if (v.ok) open.push(v.release);
      } else {
        const r = open.splice(n % Math.max(1, open.length), 1)[0];
        r?.();
        r?.();
      }
      assert.equal(l.stats().connections, open.length);
      assert.ok(open.length <= 8);
    }
  }));
});

test('refusals: the first per source is recorded at once, the rest as one summary per interval', () => {
  const records: RefusalSummary[] = [];
  const log = new RefusalLog({ intervalMs: 60_000, maxSources: 2, now: 0, record: (s) => records.push(s) });
  for (let i = 0; i < 1000; i++) log.note('192.0.2.1', i % 2 === 0 ? 'per_source' : 'penalty', 10 + i);
  assert.equal(records.length, 1);
  assert.deepEqual(records[0], { source: '192.0.2.1', address: '192.0.2.1', reasons: { per_source: 1 }, count: 1, since: 10, first: true });
  log.note('192.0.2.2', 'total', 2000);
  // Past the tracking limit, sources share one summary.
  for (let i = 0; i < 50; i++) log.note(`198.51.100.${i}`, 'total', 3000);
  assert.equal(records.length, 2);
  log.note('192.0.2.1', 'penalty', 61_000); // a new interval: summaries of the old one, then a fresh first record
  assert.deepEqual(records.slice(2).map((r) => [r.source, r.count, r.first]), [['192.0.2.1', 999, false], ['*', 50, false], ['192.0.2.1', 1, true]]);
  assert.deepEqual(records[2]!.reasons, { per_source: 499, penalty: 500 });
  assert.equal(log.total, 1052);
  log.flush(200_000);
  assert.equal(records.length, 5, 'nothing for a source with no refusal after its first record');
});
