/**
 * A browser approval releases the waiting session at once (issue 14, item 2), not at the next poll:
 * the poll interval is set to a minute here, so only the wake-up can release the waiter in time —
 * in the same process (in-process event) and across two stores on one PostgreSQL database (LISTEN/NOTIFY).
 * A stray wake-up releases nothing: the waiter reads the database, which alone decides.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { createAuditor } from '../audit/auditor.ts';
import { systemClock } from '../clock.ts';
import { openPgNotifier, type ChangeNotifier } from '../store/pg-notifier.ts';
import { createStore } from '../store/kysely-store.ts';
import type { Store } from '../store/repositories.ts';
import { POSTGRES_SKIP_REASON, withTestDatabase } from '../../test/harness/postgres.ts';
import { STORE_DIALECTS } from '../../test/harness/store-fixtures.ts';
import { BrowserLogins } from './browser-login.ts';
import { DecisionFeed } from './decision-feed.ts';
import { enrolUser } from './enrolment.ts';
import { LOW_COST_FOR_TESTS } from './password.ts';

/** Far longer than any bound below: a release in time cannot come from polling. */
const POLL_MS = 60_000;

function logins(store: Store, feed: DecisionFeed): BrowserLogins {
  return new BrowserLogins({ store, clock: systemClock, audit: createAuditor({ repository: store.audit, clock: systemClock, log: null }), baseUrl: () => 'http://gw.test', pollMs: POLL_MS, feed });
}

/** Starts a request as `waiter`, approves it through `approver`, and returns how long the wait took after the approval. */
async function approveAndTime(waiter: BrowserLogins, approver: BrowserLogins, store: Store): Promise<{ outcome: string; ms: number }> {
  const user = (await store.users.byName('alice'))!;
  const started = await waiter.start({ kind: 'ssh', userName: 'alice', clientAddress: '192.0.2.1', connectionRef: 'test' });
  const controller = new AbortController();
  let approvedAt = 0;
  const waiting = waiter.wait(started.id, { signal: controller.signal }).then((outcome) => ({ outcome, ms: performance.now() - approvedAt }));
  // Let the waiter reach its sleep first.
  await new Promise((r) => setTimeout(r, 50));
  const secret = new URL(started.url).pathname.split('/').pop()!;
  approvedAt = performance.now();
  await approver.decide({ secret, userCode: started.userCode, approver: user, method: 'password', clientAddress: '192.0.2.2', decision: 'approved' });
  const bound = setTimeout(() => controller.abort(), 5_000);
  try {
    return await waiting;
  } finally {
    clearTimeout(bound);
  }
}

for (const { dialect, skip, open } of STORE_DIALECTS) {
  test(`${dialect}: an approval in the same process releases the waiter within 50 ms, and a stray wake-up releases nothing`, { skip }, async () => {
    const fx = await open();
    try {
      await enrolUser(fx.store, { name: 'alice', email: null, isAdmin: false, password: 'correct horse battery staple' }, systemClock, { kdfCost: LOW_COST_FOR_TESTS });
      const feed = new DecisionFeed();
      const bl = logins(fx.store, feed);
      // The median of three (the first also opens the pool's connections).
      const times: number[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await approveAndTime(bl, bl, fx.store);
        assert.equal(r.outcome, 'approved');
        times.push(r.ms);
      }
      times.sort((x, y) => x - y);
      assert.ok(times[1]! < 50, `released ${times.map(Math.round).join(', ')} ms after the approval`);

      const pending = await bl.start({ kind: 'ssh', userName: 'alice', clientAddress: '192.0.2.1', connectionRef: 'test' });
      const controller = new AbortController();
      const waiting = bl.wait(pending.id, { signal: controller.signal });
      await new Promise((r) => setTimeout(r, 20));
      for (let i = 0; i < 5; i++) {
        feed.publish(pending.id);
        await new Promise((r) => setTimeout(r, 10));
      }
      controller.abort();
      assert.equal(await waiting, 'aborted', 'woken without a decision, it read the request again and kept waiting');
    } finally {
      await fx.cleanup();
    }
  });
}

test('postgres: an approval on one replica releases the waiter on another within 200 ms (LISTEN/NOTIFY)', { skip: POSTGRES_SKIP_REASON }, async () => {
  const db = (await withTestDatabase())!;
  const stores: Store[] = [];
  const notifiers: ChangeNotifier[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      stores.push(await createStore({ url: db.url, dataDir: '/nonexistent' }));
      notifiers.push(await openPgNotifier(db.url, 'airlock_browser_login', () => undefined));
    }
    assert.ok(notifiers.every((n) => n.listening));
    await enrolUser(stores[0]!, { name: 'alice', email: null, isAdmin: false, password: 'correct horse battery staple' }, systemClock, { kdfCost: LOW_COST_FOR_TESTS });
    const a = logins(stores[0]!, new DecisionFeed(notifiers[0]));
    const b = logins(stores[1]!, new DecisionFeed(notifiers[1]));
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await approveAndTime(a, b, stores[1]!);
      assert.equal(r.outcome, 'approved');
      times.push(r.ms);
    }
    times.sort((x, y) => x - y);
    assert.ok(times[1]! < 200, `released after ${times.map(Math.round).join(', ')} ms`);
  } finally {
    for (const n of notifiers) await n.close();
    for (const s of stores) await s.close();
    await db.drop();
  }
});
