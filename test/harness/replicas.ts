/**
 * Two replicas of the service on one fresh PostgreSQL database, started in this process: replica B
 * starts with a copy of replica A's CA keys (in production: a shared volume or a secret store), so
 * both sign with one CA and see one store. `stop` ends both and drops the database.
 */
import { startTestGateway, type TestGateway } from './gateway.ts';
import { startTestServer, type TestServer } from './in-process.ts';
import { TEST_DATABASE_ENV, withTestDatabase, type TestDatabase } from './postgres.ts';

export interface Replicas<T> {
  db: TestDatabase;
  a: T;
  b: T;
  /** Stops B, then A, then drops the database. */
  stop(): Promise<void>;
}

/**
 * Creates the database, starts A with `env` and B with `env` plus `envB` (e.g. another listen address),
 * both with AIRLOCK_DATABASE_URL set; `start` gets A as the replica whose CA B shares.
 */
export async function startReplicas<T extends { stop(): Promise<void> }>(
  start: (env: NodeJS.ProcessEnv, shareCaWith: T | undefined) => Promise<T>,
  env: NodeJS.ProcessEnv,
  envB: NodeJS.ProcessEnv = {},
): Promise<Replicas<T>> {
  const db = await withTestDatabase();
  if (!db) throw new Error(`${TEST_DATABASE_ENV} is not set: skip replica tests with POSTGRES_SKIP_REASON`);
  const shared = { ...env, AIRLOCK_DATABASE_URL: db.url };
  let a: T | undefined;
  try {
    a = await start(shared, undefined);
    const b = await start({ ...shared, ...envB }, a);
    const first = a;
    return {
      db, a: first, b,
      async stop() {
        await b.stop();
        await first.stop();
        await db.drop();
      },
    };
  } catch (err) {
    await a?.stop();
    await db.drop();
    throw err;
  }
}

/** Two in-process gateways (TestGateway: users, projects, targets, audit) on one database. */
export function startGatewayReplicas(env: NodeJS.ProcessEnv, envB: NodeJS.ProcessEnv = {}): Promise<Replicas<TestGateway>> {
  return startReplicas((e, shareCaWith) => startTestGateway(e, shareCaWith ? { shareCaWith } : {}), env, envB);
}

/** Two in-process servers (TestServer: HTTP API and web pages) on one database. */
export function startServerReplicas(env: NodeJS.ProcessEnv): Promise<Replicas<TestServer>> {
  return startReplicas((e, shareCaWith) => startTestServer({ env: e, ...(shareCaWith ? { shareCaWith } : {}) }), env);
}
