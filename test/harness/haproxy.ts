/**
 * A real HAProxy (`/usr/sbin/haproxy`, Debian's haproxy package) in TCP mode in front of the gateway,
 * one frontend per PROXY protocol version, connecting onward from a chosen loopback address (the
 * address the gateway is told to trust); and the reference deployment (deploy/haproxy/haproxy.cfg)
 * in front of two replicas.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startProcess, stopProcess, waitFor } from './processes.ts';

export const HAPROXY = '/usr/sbin/haproxy';

export interface TestHaproxy {
  /** Frontend port that sends PROXY v2 (`send-proxy-v2`). */
  v2Port: number;
  /** Frontend port that sends PROXY v1 (`send-proxy`). */
  v1Port: number;
  output(): string;
  stop(): Promise<void>;
}

/** Whether HAProxy is installed (`.ci/run` installs it). */
export function haproxyAvailable(): boolean {
  return existsSync(HAPROXY);
}

/** Starts HAProxy on 127.0.0.1 forwarding to `backend`, its onward connections bound to `source`. */
export async function startHaproxy(dir: string, backend: { host: string; port: number }, source: string): Promise<TestHaproxy> {
  const [v2Port, v1Port] = [await freePort(), await freePort()];
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, [
    'global',
    '  maxconn 256',
    'defaults',
    '  mode tcp',
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 60s',
    `frontend ssh_v2`,
    `  bind 127.0.0.1:${v2Port}`,
    '  default_backend gw_v2',
    `frontend ssh_v1`,
    `  bind 127.0.0.1:${v1Port}`,
    '  default_backend gw_v1',
    'backend gw_v2',
    `  server gw ${backend.host}:${backend.port} send-proxy-v2 source ${source}`,
    'backend gw_v1',
    `  server gw ${backend.host}:${backend.port} send-proxy source ${source}`,
    '',
  ].join('\n'));
  const p = startProcess(HAPROXY, ['-db', '-f', cfg]);
  const stop = () => stopProcess(p.child);
  try {
    for (const port of [v2Port, v1Port]) {
      await waitFor(`haproxy listening on ${port}`, () => new Promise<true | undefined>((resolve) => {
        const s = connect({ host: '127.0.0.1', port });
        s.once('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.once('error', () => resolve(undefined));
      }), 10_000);
    }
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}; haproxy said: ${p.output()}`);
  }
  return { v2Port, v1Port, output: p.output, stop };
}

/** The reference configuration operators deploy (deploy/haproxy/haproxy.cfg), which the tests run unchanged. */
export const REFERENCE_HAPROXY_CFG = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'deploy', 'haproxy', 'haproxy.cfg');

export interface ReferenceHaproxy {
  sshPort: number;
  httpPort: number;
  output(): string;
  stop(): Promise<void>;
}

/** Waits until something accepts TCP connections on 127.0.0.1:`port`. */
function listeningOn(port: number, timeoutMs: number): Promise<true> {
  return waitFor(`a listener on ${port}`, () => new Promise<true | undefined>((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(undefined));
  }), timeoutMs);
}

/**
 * Starts HAProxy with the reference configuration as it is, its addresses given through the
 * environment variables the file names, in front of replicas listening on 127.0.0.1.
 */
export async function startReferenceHaproxy(replicas: readonly { sshPort: number; httpPort: number }[]): Promise<ReferenceHaproxy> {
  if (replicas.length !== 2) throw new Error('the reference configuration names two replicas');
  const [sshPort, httpPort] = [await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = { ...process.env, AIRLOCK_LB_SSH_BIND: `127.0.0.1:${sshPort}`, AIRLOCK_LB_HTTP_BIND: `127.0.0.1:${httpPort}` };
  replicas.forEach((r, i) => {
    env[`AIRLOCK_R${i + 1}_HOST`] = '127.0.0.1';
    env[`AIRLOCK_R${i + 1}_SSH_PORT`] = String(r.sshPort);
    env[`AIRLOCK_R${i + 1}_HTTP_PORT`] = String(r.httpPort);
  });
  const p = startProcess(HAPROXY, ['-db', '-f', REFERENCE_HAPROXY_CFG], { env });
  const stop = () => stopProcess(p.child);
  try {
    await listeningOn(sshPort, 10_000);
    await listeningOn(httpPort, 10_000);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}; haproxy said: ${p.output()}`);
  }
  return { sshPort, httpPort, output: p.output, stop };
}
