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
  // Full: newcomers take slots from the heaviest source until every source holds one (fair share).
  assert.ok(l.admit('192.0.2.4', 0).ok);
  assert.ok(l.admit('192.0.2.5', 0).ok);
  assert.equal((l.admit('192.0.2.6', 0) as { reason: string }).reason, 'total');
  l.release('192.0.2.1');
  assert.ok(l.admit('192.0.2.1', 0).ok);
  assert.equal(l.stats().refused, 2);
  assert.equal(l.stats().preempted, 2);
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

test('a full table is shared fairly: a newcomer takes the oldest slot of the heaviest source, never of a lighter one', () => {
  const l = new PreAuthLimiter<string>(cfg({ maxPerSource: 4, maxTotal: 6 }));
  for (let i = 0; i < 4; i++) assert.ok(l.admit('192.0.2.1', i, `a${i}`).ok);
  assert.ok(l.admit('192.0.2.2', 10, 'b0').ok);
  assert.ok(l.admit('192.0.2.2', 11, 'b1').ok);
  // Full. A third source takes the oldest slot of the heaviest (192.0.2.1 holds 4): a0.
  const c = l.admit('192.0.2.3', 20, 'c0');
  assert.deepEqual(c, { ok: true, source: '192.0.2.3', preempted: 'a0' });
  // Holding 3, 2, 1: the heaviest source cannot take slots (it would stay the heaviest), nor can one
  // that would end up heavier than its victim (2 + 1 > 3 - 1).
  assert.equal((l.admit('192.0.2.1', 21, 'a9') as { reason: string }).reason, 'total');
  assert.equal((l.admit('192.0.2.2', 22, 'b9') as { reason: string }).reason, 'total');
  assert.deepEqual(l.admit('192.0.2.4', 24, 'd0'), { ok: true, source: '192.0.2.4', preempted: 'a1' });
  // Holding 2, 2, 1, 1: two more sources take from the two-slot sources, then the table is fair.
  const e = l.admit('192.0.2.5', 25, 'e0');
  assert.ok(e.ok && (e.preempted === 'a2' || e.preempted === 'b0'));
  assert.ok(l.admit('192.0.2.6', 26, 'f0').ok);
  assert.equal((l.admit('192.0.2.7', 27, 'g0') as { reason: string }).reason, 'total');
  assert.equal(l.stats().unauthenticated, 6);
  assert.equal(l.stats().preempted, 4);
  // A preempted holder's release is a no-op; a real one frees its slot.
  l.release('192.0.2.1', 'a0');
  assert.equal(l.stats().unauthenticated, 6);
  l.release('192.0.2.3', 'c0');
  assert.equal(l.stats().unauthenticated, 5);
});

test('ten sources holding every slot cannot keep an eleventh out (the slot-holding attack)', () => {
  const l = new PreAuthLimiter<number>(cfg({ maxPerSource: 10, maxTotal: 100 }));
  let n = 0;
  for (let s = 10; s < 20; s++) for (let i = 0; i < 10; i++) assert.ok(l.admit(`127.0.0.${s}`, 0, n++).ok);
  for (let s = 10; s < 20; s++) assert.equal(l.admit(`127.0.0.${s}`, 0, n++).ok, false);
  const legit = l.admit('127.0.0.1', 0, -1);
  assert.ok(legit.ok && legit.preempted !== undefined);
  assert.equal(l.stats().unauthenticated, 100);
});

test('penalties grow with the time a slot was held: recycling slots before the grace time gets a source refused', () => {
  const l = new PreAuthLimiter(cfg({ heldCapMs: 30_000 }));
  // Ten sockets that each idled 29 s and closed (OpenSSH's 1 s each would never reach 15 s).
  let blocked = false;
  for (let i = 0; i < 10; i++) blocked = l.penalise('192.0.2.9', 'noauth', 29_000, 29_000) || blocked;
  assert.ok(blocked);
  const r = l.admit('192.0.2.9', 29_000);
  assert.equal(!r.ok && r.reason, 'penalty');
  assert.equal(!r.ok && r.retryAfterMs, 300_000, 'ten slots × 30 s');
  // A quick failure costs what OpenSSH charges; the held time is capped at the grace time.
  const q = new PreAuthLimiter(cfg({ heldCapMs: 30_000 }));
  assert.equal(q.penalise('192.0.2.8', 'authfail', 0, 200), false);
  const r2 = q.admit('192.0.2.8', 0);
  assert.ok(r2.ok);
  const capped = new PreAuthLimiter(cfg({ heldCapMs: 30_000 }));
  assert.equal(capped.penalise('192.0.2.7', 'noauth', 0, 3_600_000), true);
  const r3 = capped.admit('192.0.2.7', 0);
  assert.equal(!r3.ok && r3.retryAfterMs, 31_000);
  // Without a cap (the default), the held time does not count.
  const none = new PreAuthLimiter(cfg());
  assert.equal(none.penalise('192.0.2.6', 'noauth', 0, 29_000), false);
});

test('bookkeeping stays consistent under any sequence of admits, preemptions and releases (property)', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 4 })), { maxLength: 300 }), (ops) => {
      const l = new PreAuthLimiter<number>(cfg({ maxPerSource: 4, maxTotal: 7 }));
      const held = new Map<number, string>();
      let next = 0;
      for (const [op, n] of ops) {
        if (op > 0) {
          const id = next++;
          const r = l.admit(`192.0.2.${n}`, 0, id);
          if (r.ok) {
            if (r.preempted !== undefined) {
              assert.ok(held.has(r.preempted));
              const victimSource = held.get(r.preempted)!;
              const victimCount = [...held.values()].filter((s) => s === victimSource).length;
              const mine = [...held.values()].filter((s) => s === r.source).length;
              assert.ok(victimCount - 1 >= mine + 1, 'never leaves the newcomer heavier than its victim');
              held.delete(r.preempted);
            }
            held.set(id, r.source);
          }
        } else {
          const first = [...held.keys()][n % Math.max(1, held.size)];
          if (first !== undefined) {
            l.release(held.get(first)!, first);
            held.delete(first);
          }
        }
        assert.equal(l.stats().unauthenticated, held.size);
        assert.ok(held.size <= 7);
        for (let i = 0; i <= 4; i++) assert.ok([...held.values()].filter((h) => h === `192.0.2.${i}`).length <= 4);
      }
    }),
  );
});
