/** Group commit: one transaction for concurrent calls, exact per-item outcomes, a failed batch retried item by item. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { groupCommit } from './group-commit.ts';
import { checkDailyQuota, DAY_MS } from '../ca/issuance-policy.ts';
import { isAirlockError } from '../errors.ts';
import type { AuditEvent, CertificateRecord } from './repositories.ts';
import { STORE_DIALECTS } from '../../test/harness/store-fixtures.ts';

test('calls of one turn form one batch; calls during a batch form the next; outcomes go to their own callers', async () => {
  const batches: number[][] = [];
  const run = groupCommit<number, number>(async (items) => {
    batches.push(items);
    await new Promise((r) => setTimeout(r, 5));
    return items.map((n) => (n % 3 === 0 ? { ok: false, error: new Error(`refused ${n}`) } : { ok: true, value: n * 10 }));
  }, { maxBatch: 4 });
  const first = [1, 2, 3, 4, 5].map(run);
  await new Promise((r) => setImmediate(r));
  const later = [6, 7].map(run);
  const results = await Promise.allSettled([...first, ...later]);
  assert.deepEqual(batches, [[1, 2, 3, 4], [5, 6, 7]]);
  assert.deepEqual(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message)), [10, 20, 'refused 3', 40, 50, 'refused 6', 70]);
});

test('a batch that fails as a whole is retried item by item, so only the bad item fails', async () => {
  const run = groupCommit<string, string>(async (items) => {
    if (items.includes('bad')) throw new Error(`batch of ${items.length} failed`);
    return items.map((s) => ({ ok: true, value: s.toUpperCase() }));
  }, { maxBatch: 10 });
  const results = await Promise.allSettled(['a', 'bad', 'c'].map(run));
  assert.deepEqual(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message)), ['A', 'batch of 1 failed', 'C']);
});

for (const { dialect, skip, open } of STORE_DIALECTS) {
  test(`insertWithinQuota (${dialect}): concurrent calls for one user in one batch store exactly the quota; a duplicate serial fails alone`, { skip }, async () => {
    const fx = await open();
    try {
      const now = Date.parse('2026-12-04T10:00:00Z');
      const user = await fx.store.users.create({ name: 'quinn', email: null, isAdmin: false, passwordHash: 'x', totpSecret: null }, now);
      const other = await fx.store.users.create({ name: 'ruth', email: null, isAdmin: false, passwordHash: 'x', totpSecret: null }, now);
      const record = (serial: bigint, userId: string): CertificateRecord => ({
        serial, userId, userName: 'x', keyId: `k${serial}`, certType: 'user', principals: ['x'], publicKey: 'ssh-ed25519 AAAA', fingerprint: 'SHA256:x',
        validAfter: now, validBefore: now + 3_600_000, method: 'api', clientAddress: null, issuedAt: now, revokedAt: null, revokeReason: null,
      });
      const quota = { since: now - DAY_MS, limit: 3, check: (issuedAt: number[]) => checkDailyQuota(issuedAt, now, 3) };
      const event = (serial: bigint, actor = 'quinn'): AuditEvent => ({ at: now, type: 'cert.issue', outcome: 'success', actor, clientAddress: null, details: { serial: serial.toString() } });
      // No in-process mutex here: the calls reach the repository together, as from several replicas' CAs.
      const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => fx.store.certificates.insertWithinQuota(record(BigInt(100 + i), user.id), quota, event(BigInt(100 + i)))));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 3);
      for (const r of results) if (r.status === 'rejected') assert.ok(isAirlockError(r.reason, 'quota_exceeded'), String(r.reason));
      const stored = (await fx.store.certificates.listByUser(user.id)).map((c) => c.serial.toString()).sort();
      assert.equal(stored.length, 3);
      // Each stored certificate has its event (same transaction); a refused one has none.
      assert.deepEqual((await fx.store.audit.list({ type: 'cert.issue', actor: 'quinn' })).map((e) => e.details.serial).sort(), stored);

      const mixed = await Promise.allSettled([200n, 100n, 201n].map((serial) => fx.store.certificates.insertWithinQuota(record(serial, other.id), quota, event(serial, 'ruth'))));
      assert.deepEqual(mixed.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
      assert.ok(isAirlockError((mixed[1] as PromiseRejectedResult).reason, 'conflict'));
      assert.deepEqual((await fx.store.certificates.listByUser(other.id)).map((c) => c.serial).sort(), [200n, 201n]);
      // The failed batch wrote none of its events; the retried items wrote exactly theirs.
      assert.deepEqual((await fx.store.audit.list({ type: 'cert.issue', actor: 'ruth' })).map((e) => e.details.serial).sort(), ['200', '201']);
    } finally {
      await fx.cleanup();
    }
  });

  test(`insertWithinQuota (${dialect}): a certificate whose audit event cannot be stored is not stored either`, { skip }, async () => {
    const fx = await open();
    try {
      const now = Date.parse('2026-12-04T10:00:00Z');
      const user = await fx.store.users.create({ name: 'sam', email: null, isAdmin: false, passwordHash: 'x', totpSecret: null }, now);
      const record: CertificateRecord = {
        serial: 300n, userId: user.id, userName: 'sam', keyId: 'k300', certType: 'user', principals: ['sam'], publicKey: 'ssh-ed25519 AAAA', fingerprint: 'SHA256:x',
        validAfter: now, validBefore: now + 3_600_000, method: 'api', clientAddress: null, issuedAt: now, revokedAt: null, revokeReason: null,
      };
      const quota = { since: now - DAY_MS, limit: 3, check: (issuedAt: number[]) => checkDailyQuota(issuedAt, now, 3) };
      // The audit table refuses every row: the event's insert fails inside the ledger's transaction.
      await sql`drop table audit_events`.execute(fx.db);
      await assert.rejects(fx.store.certificates.insertWithinQuota(record, quota, { at: now, type: 'cert.issue', outcome: 'success', actor: 'sam', clientAddress: null, details: {} }));
      assert.deepEqual(await fx.store.certificates.listByUser(user.id), []);
    } finally {
      await fx.cleanup();
    }
  });

  test(`insertWithinQuota (${dialect}): a batch that fails anywhere leaves no transaction open on its connection`, { skip }, async () => {
    // On PostgreSQL the batch's statements go out pipelined (BEGIN, locks and quota read together;
    // insert and COMMIT together): a failure in either half must still end the transaction.
    const fx = await open();
    try {
      const now = Date.parse('2026-12-04T10:00:00Z');
      const user = await fx.store.users.create({ name: 'tess', email: null, isAdmin: false, passwordHash: 'x', totpSecret: null }, now);
      const record = (serial: bigint): CertificateRecord => ({
        serial, userId: user.id, userName: 'tess', keyId: `k${serial}`, certType: 'user', principals: ['tess'], publicKey: 'ssh-ed25519 AAAA', fingerprint: 'SHA256:x',
        validAfter: now, validBefore: now + 3_600_000, method: 'api', clientAddress: null, issuedAt: now, revokedAt: null, revokeReason: null,
      });
      const quota = { since: now - DAY_MS, limit: 5, check: (issuedAt: number[]) => checkDailyQuota(issuedAt, now, 5) };
      const event = (serial: bigint): AuditEvent => ({ at: now, type: 'cert.issue', outcome: 'success', actor: 'tess', clientAddress: null, details: { serial: serial.toString() } });
      const openTransactions = async (): Promise<number> => {
        if (dialect !== 'postgres') return 0;
        const r = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where datname = current_database() and state like 'idle in transaction%'`.execute(fx.db);
        return r.rows[0]!.n;
      };
      // The first half fails: the quota read names a column that is not there.
      await sql`alter table certificates rename column revoked_at to revoked_at_gone`.execute(fx.db);
      const failedRead = await Promise.allSettled([1n, 2n].map((s) => fx.store.certificates.insertWithinQuota(record(s), quota, event(s))));
      assert.deepEqual(failedRead.map((r) => r.status), ['rejected', 'rejected']);
      await sql`alter table certificates rename column revoked_at_gone to revoked_at`.execute(fx.db);
      assert.equal(await openTransactions(), 0);
      // The second half fails: the same serial twice in one batch (then each is retried alone).
      const dup = await Promise.allSettled([3n, 3n].map((s) => fx.store.certificates.insertWithinQuota(record(s), quota, event(s))));
      assert.deepEqual(dup.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
      assert.equal(await openTransactions(), 0);
      // Every connection still works, and exactly one certificate and one event were stored.
      await Promise.all(Array.from({ length: 12 }, () => sql`select 1`.execute(fx.db)));
      assert.deepEqual((await fx.store.certificates.listByUser(user.id)).map((c) => c.serial), [3n]);
      assert.deepEqual((await fx.store.audit.list({ type: 'cert.issue', actor: 'tess' })).map((e) => e.details.serial), ['3']);
    } finally {
      await fx.cleanup();
    }
  });
}

test('with gather, a batch that would start small waits for more callers; one that is large enough does not wait', async () => {
  const batches: number[][] = [];
  const run = groupCommit<number, number>(async (items) => {
    batches.push(items);
    return items.map((n) => ({ ok: true, value: n }));
  }, { maxBatch: 4, gather: { below: 3, waitMs: 60_000 } });
  // Without gather, 1 would go alone (the first test shows it); with it, the others arrive during the wait.
  const first = run(1);
  await new Promise((r) => setImmediate(r));
  const t0 = performance.now();
  // A whole batch (maxBatch) is waiting: the wait ends there instead of running out the minute.
  assert.deepEqual(await Promise.all([first, run(2), run(3), run(4)]), [1, 2, 3, 4]);
  assert.deepEqual(batches, [[1, 2, 3, 4]]);
  assert.ok(performance.now() - t0 < 30_000, 'the wait ended once a whole batch had come');
  // At least `below` callers at once: no wait at all.
  const t1 = performance.now();
  assert.deepEqual(await Promise.all([5, 6, 7].map(run)), [5, 6, 7]);
  assert.deepEqual(batches, [[1, 2, 3, 4], [5, 6, 7]]);
  assert.ok(performance.now() - t1 < 30_000);
});

test('with gather, a lone caller waits no longer than the gathering time', async () => {
  const run = groupCommit<number, number>(async (items) => items.map((n) => ({ ok: true, value: n })), { maxBatch: 10, gather: { below: 3, waitMs: 1 } });
  // Bounded by the 1 ms timer; the test runner's timeout is the bound if it never fired.
  assert.equal(await run(7), 7);
});
