/**
 * Local ports for tunnels: is one free on 127.0.0.1, and which one to use. Tunnels listen on the
 * loopback address only, so a forwarded service (a Jupyter server with its token) is never exposed
 * to the local network.
 */
import { createServer } from 'node:net';

/** The address tunnels listen on. */
export const TUNNEL_BIND = '127.0.0.1';

/** Whether nothing listens on `port` (checked by binding it for a moment). */
export function isPortFree(port: number, host = TUNNEL_BIND): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** A port the system considers free right now. */
export function anyFreePort(host = TUNNEL_BIND): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen({ port: 0, host, exclusive: true }, () => {
      const a = srv.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

/**
 * The port to use: `wanted` (or else `preferred`) when it is free, otherwise any free one, with a note
 * saying why. There is a moment between this check and ssh binding the port; the caller retries when
 * ssh then reports the port taken.
 */
export async function chooseLocalPort(wanted: number | undefined, preferred: number): Promise<{ port: number; note: string | null }> {
  const first = wanted ?? preferred;
  if (await isPortFree(first)) return { port: first, note: null };
  const port = await anyFreePort();
  return { port, note: `Local port ${first} is in use by another program; using ${port} instead.` };
}
