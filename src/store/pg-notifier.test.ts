/**
 * PostgreSQL LISTEN/NOTIFY between replicas (pg-notifier.ts), on the test machine's PostgreSQL: a
 * message sent by one notifier reaches the other; when the database drops the listening connection
 * (a restart, a failover, an operator's pg_terminate_backend), the notifier reconnects by itself and
 * messages flow again — meanwhile the callers' polling carries on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { POSTGRES_SKIP_REASON, withTestDatabase } from '../../test/harness/postgres.ts';
import { waitFor } from '../../test/harness/processes.ts';
import { APPLICATION_NAME, openPgNotifier } from './pg-notifier.ts';

test('notifications cross connections, and the listener comes back after the database drops it', { skip: POSTGRES_SKIP_REASON }, async () => {
  const db = (await withTestDatabase())!;
  const logs: string[] = [];
  const a = await openPgNotifier(db.url, 'airlock_test_channel', (msg) => logs.push(msg));
  const b = await openPgNotifier(db.url, 'airlock_test_channel', () => undefined);
  const admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  try {
    const got: string[] = [];
    a.onNotification((p) => got.push(p));
    b.notify('one');
    await waitFor('the first message', () => (got.includes('one') ? true : undefined), 5_000, 10);

    const killed = await admin.query<{ n: number }>(
      "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()",
      [APPLICATION_NAME],
    );
    assert.equal(killed.rows[0]?.n, 2, 'both listening connections were dropped');
    await waitFor('the loss to be noticed', () => (!a.listening ? true : undefined), 5_000, 10);
    assert.ok(logs.some((l) => /notifications lost/.test(l)));
    await waitFor('both notifiers to listen again', () => (a.listening && b.listening ? true : undefined), 10_000, 20);
    b.notify('two');
    await waitFor('a message after the reconnect', () => (got.includes('two') ? true : undefined), 5_000, 10);
    // LISTEN cannot take a parameter: a channel name is checked, never spliced in as given.
    await assert.rejects(openPgNotifier(db.url, 'bad; DROP TABLE users', () => undefined), /invalid notification channel/);
  } finally {
    await admin.end();
    await a.close();
    await b.close();
    await db.drop();
  }
});
