import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseCidr } from '../ssh/cidr.ts';
import { PreAuthLimiter, sourceKey, type PreAuthLimitsConfig } from './preauth-limits.ts';

const cfg = (over: Partial<PreAuthLimitsConfig> = {}): PreAuthLimitsConfig => ({ maxPerSource: 3, maxTotal: 5, penalties: true, penaltyMaxMs: 600_000, exempt: [], ...over });

test('per-source and total caps refuse the next connection; releasing frees the slot', () => {
  const l = new PreAuthLimiter(cfg());
  const a = [1, 2, 3].map(() => l.admit('192.0.2.1', 0));
  assert.ok(a.every((x) => x.ok));
  assert.deepEqual(l.admit('192.0.2.1', 0), { ok: false, reason: 'per_source', source: '192.0.2.1' });
  assert.ok(l.admit('192.0.2.2', 0).ok);
  assert.ok(l.admit('192.0.2.3', 0).ok);
  assert.equal((l.admit('192.0.2.4', 0) as { reason: string }).reason, 'total');
  l.release('192.0.2.1');
  assert.ok(l.admit('192.0.2.1', 0).ok);
  assert.equal(l.stats().refused, 2);
  assert.equal(l.stats().unauthenticated, 5);
});

test('IPv6 sources are /64 networks; IPv4-mapped addresses count as IPv4', () => {
  assert.equal(sourceKey('2001:db8:1:2::5'), sourceKey('2001:db8:1:2:ffff::9'));
  assert.notEqual(sourceKey('2001:db8:1:2::5'), sourceKey('2001:db8:1:3::5'));
  assert.equal(sourceKey('::ffff:192.0.2.1'), '192.0.2.1');
  const l = new PreAuthLimiter(cfg({ maxPerSource: 1 }));
  assert.ok(l.admit('2001:db8::1', 0).ok);
  assert.equal(l.admit('2001:db8::2', 0).ok, false);
});

test('penalties (OpenSSH PerSourcePenalties): a source is refused once 15 s accumulate, until they run out', () => {
  const l = new PreAuthLimiter(cfg());
  assert.equal(l.penalise('192.0.2.9', 'authfail', 0), false); // 5 s
  assert.equal(l.penalise('192.0.2.9', 'authfail', 0), false); // 10 s
  assert.ok(l.admit('192.0.2.9', 0).ok);
  l.release('192.0.2.9');
  assert.equal(l.penalise('192.0.2.9', 'authfail', 0), true); // 15 s: refused from now
  const r = l.admit('192.0.2.9', 1000);
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.reason, 'penalty');
  assert.equal(!r.ok && r.retryAfterMs, 14_000);
  assert.ok(l.admit('192.0.2.10', 1000).ok, 'other sources are not affected');
  // Refused until the penalty runs out, then admitted; a fresh small penalty does not refuse.
  assert.equal(l.admit('192.0.2.9', 14_999).ok, false);
  assert.ok(l.admit('192.0.2.9', 15_000).ok);
  l.penalise('192.0.2.9', 'grace', 20_000);
  assert.ok(l.admit('192.0.2.9', 20_000).ok);
});

test('penalties are capped by the maximum, can be switched off, and spare exempt networks', () => {
  const l = new PreAuthLimiter(cfg({ penaltyMaxMs: 20_000 }));
  for (let i = 0; i < 100; i++) l.penalise('192.0.2.9', 'grace', 0);
  const r = l.admit('192.0.2.9', 0);
  assert.equal(!r.ok && r.retryAfterMs, 20_000);
  assert.ok(l.admit('192.0.2.9', 20_000).ok);
  const off = new PreAuthLimiter(cfg({ penalties: false }));
  for (let i = 0; i < 10; i++) off.penalise('192.0.2.9', 'grace', 0);
  assert.ok(off.admit('192.0.2.9', 0).ok);
  const ex = new PreAuthLimiter(cfg({ exempt: [parseCidr('192.0.2.0/24')] }));
  for (let i = 0; i < 10; i++) ex.penalise('192.0.2.9', 'grace', 0);
  assert.ok(ex.admit('192.0.2.9', 0).ok);
  for (let i = 0; i < 10; i++) ex.penalise('198.51.100.1', 'grace', 0);
  assert.equal(ex.admit('198.51.100.1', 0).ok, false);
});

test('bookkeeping stays consistent under any sequence of admits and releases (property)', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 5 })), { maxLength: 200 }), (ops) => {
      const l = new PreAuthLimiter(cfg({ maxPerSource: 2, maxTotal: 6 }));
      const held: string[] = [];
      for (const [admit, n] of ops) {
        if (admit) {
          const r = l.admit(`192.0.2.${n}`, 0);
          if (r.ok) held.push(r.source);
        } else if (held.length > 0) {
          l.release(held.pop()!);
        }
        const s = l.stats();
        assert.equal(s.unauthenticated, held.length);
        assert.ok(s.unauthenticated <= 6);
        for (let i = 0; i <= 5; i++) assert.ok(held.filter((h) => h === `192.0.2.${i}`).length <= 2);
      }
    }),
  );
});
