/** The live-connections repository on both dialects: upsert, list of live replicas only, end requests once, dead replicas pruned. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { STORE_DIALECTS } from '../../test/harness/store-fixtures.ts';
import type { LiveConnectionRecord } from './repositories.ts';

type Row = Omit<LiveConnectionRecord, 'endRequestedAt' | 'endRequestedBy'>;

const row = (id: string, replicaId: string, over: Partial<Row> = {}): Row => ({
  id, replicaId, userName: 'alice', method: 'certificate', serial: '42', clientAddress: '127.0.0.2', openedAt: 1000, sessions: 0,
  channels: [{ target: 'job-1', host: 'job-1', port: 22, openedAt: 1500 }], bytesIn: 10, bytesOut: 20, updatedAt: 2000, ...over,
});

for (const { dialect, skip, open } of STORE_DIALECTS) {
  test(`live connections (${dialect}): listed only while their replica beats, ended once, pruned when dead`, { skip }, async () => {
    const fx = await open();
    const store = fx.store;
    try {
      const repo = store.liveConnections;
      await repo.heartbeat('r1', 0, 10_000);
      await repo.heartbeat('r2', 0, 10_000);
      await repo.upsert([row('c1', 'r1'), row('c2', 'r2', { userName: 'bob', openedAt: 3000 })]);
      // An update changes counters and channels but keeps the identity columns.
      await repo.upsert([row('c1', 'r1', { bytesIn: 99, channels: [], sessions: 1 })]);
      let list = await repo.list(5_000);
      assert.deepEqual(list.map((c) => c.id), ['c2', 'c1'], 'newest first');
      const c1 = list.find((c) => c.id === 'c1')!;
      assert.equal(c1.bytesIn, 99);
      assert.equal(c1.sessions, 1);
      assert.deepEqual(c1.channels, []);
      assert.equal(c1.serial, '42');

      // r2 stops beating: its rows are no longer listed, and cannot be asked to end.
      await repo.heartbeat('r1', 0, 20_000);
      list = await repo.list(15_000);
      assert.deepEqual(list.map((c) => c.id), ['c1']);
      assert.equal(await repo.requestEnd('c2', 'ops', 20_000, 15_000), false);

      assert.equal(await repo.requestEnd('c1', 'ops', 20_000, 15_000), true);
      assert.equal(await repo.requestEnd('c1', 'ops2', 20_001, 15_000), false, 'asked once');
      assert.deepEqual(await repo.endRequests('r1'), [{ id: 'c1', by: 'ops' }]);
      assert.deepEqual(await repo.endRequests('r2'), []);
      // The replica's next upsert does not clear the request.
      await repo.upsert([row('c1', 'r1', { bytesIn: 100 })]);
      assert.deepEqual(await repo.endRequests('r1'), [{ id: 'c1', by: 'ops' }]);

      // Pruning removes the dead replica and its rows, nothing else.
      await repo.removeReplicas({ before: 15_000 });
      list = await repo.list(0);
      assert.deepEqual(list.map((c) => c.id), ['c1']);
      await repo.remove(['c1']);
      assert.deepEqual(await repo.list(0), []);
      await repo.upsert([row('c3', 'r1')]);
      await repo.removeReplicas({ id: 'r1' });
      assert.deepEqual(await repo.list(0), []);
    } finally {
      await fx.cleanup();
    }
  });
}
