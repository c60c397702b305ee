/**
 * Airlock in this test process: the real composition root (`startServer`) on port 0 with a temporary data
 * directory and an injectable clock, for HTTP-level tests that need to move time or inspect the store.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.ts';
import { startServer, type RunningServer } from '../../src/server.ts';
import type { Clock } from '../../src/clock.ts';
import { enrolUser } from '../../src/identity/local-login.ts';
import { currentTotp } from '../../src/identity/totp.ts';

export const TEST_PASSWORD = 'correct horse battery staple';

export interface TestServer {
  server: RunningServer;
  url: string;
  dataDir: string;
  /** JSON log lines the service wrote. */
  logLines: string[];
  /** Creates a user with TEST_PASSWORD; returns its TOTP secret and recovery codes. */
  addUser(name: string): Promise<{ secret: string; recoveryCodes: string[] }>;
  /** The current TOTP code for a secret at the server's clock. */
  totp(secret: string): string;
  stop(): Promise<void>;
}

/** Starts the real service in-process with env overrides (e.g. AIRLOCK_DATABASE_URL) and a clock. */
export async function startTestServer(opts: { clock?: Clock; env?: NodeJS.ProcessEnv; shareCaWith?: TestServer } = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'airlock-inproc-'));
  // Replicas share the CA keys (in production: a shared volume or a secret store).
  if (opts.shareCaWith) cpSync(join(opts.shareCaWith.dataDir, 'ca'), join(dataDir, 'ca'), { recursive: true });
  const config = loadConfig({ env: { AIRLOCK_HTTP_LISTEN: '127.0.0.1:0', AIRLOCK_SSH_LISTEN: '127.0.0.1:0', ...opts.env }, flags: { data_dir: dataDir } });
  const logLines: string[] = [];
  const server = await startServer(config, { ...(opts.clock ? { clock: opts.clock } : {}), log: (line) => logLines.push(line) });
  const clock = server.core.clock;
  return {
    server,
    url: server.httpUrl,
    dataDir,
    logLines,
    async addUser(name) {
      const e = await enrolUser(server.core.store, { name, email: null, isAdmin: false, password: TEST_PASSWORD }, clock);
      return { secret: e.totpSecret, recoveryCodes: e.recoveryCodes };
    },
    totp: (secret) => currentTotp(secret, clock.now()),
    async stop() {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** POSTs JSON and returns status, headers and parsed body. */
export async function postJson(url: string, body: unknown, token?: string): Promise<{ status: number; text: string; json: Record<string, unknown> }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    /* not JSON */
  }
  return { status: res.status, text, json };
}
