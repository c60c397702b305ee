/**
 * A real HAProxy (`/usr/sbin/haproxy`, Debian's haproxy package) in TCP mode in front of the gateway,
 * one frontend per PROXY protocol version, connecting onward from a chosen loopback address (the
 * address the gateway is told to trust).
 */
import { existsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
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
