/**
 * The check `airlock tunnel` makes once its ssh is up: connect to the local end of the forward and see
 * how the gateway answers the channel ssh opens for that connection.
 *
 * ssh logs "Local forwarding listening on …" just before it calls bind(2) and listen(2) (OpenSSH's
 * channel_setup_fwd_listener_tcpip), so a connection made the moment that line is read can be refused
 * by the kernel. The probe used to swallow that refusal and wait its full timeout for an answer that
 * could not come. Now a refused connection is retried until ssh listens, and the answer is taken from
 * whichever comes first: ssh's word on the channel (`open confirm` / `open failed: REASON: MESSAGE`),
 * bytes from the service, or ssh closing the connection (which it does when the channel is refused).
 */
import { connect, type Socket } from 'node:net';
import { TUNNEL_BIND } from './local-ports.ts';
import type { SshEvent } from './ssh-messages.ts';

export type OpenFailedEvent = Extract<SshEvent, { kind: 'open-failed' }>;

/** What the probe learned about the forwarded connection. */
export type ProbeResult =
  | { kind: 'open' }
  /** The gateway refused the channel; `event` carries its reason when ssh's line was read. */
  | { kind: 'refused'; event: OpenFailedEvent | null }
  | { kind: 'ssh-exited' }
  /** ssh never accepted the connection (not listening, or an error other than "refused"). */
  | { kind: 'not-listening' }
  | { kind: 'timeout' };

/** The ssh process as the probe sees it: its classified stderr lines and its end. */
export interface SshWatch {
  on(listener: (e: SshEvent) => void): () => void;
  onExit(listener: () => void): () => void;
}

/**
 * After ssh closed the probe's connection, how long to wait for its `open failed` line: ssh writes the
 * line before it closes the socket, but the two arrive through different descriptors.
 */
const REASON_GRACE_MS = 2000;
/** Bound on connection attempts while ssh is not listening yet (the backoff reaches 200 ms). */
const MAX_CONNECT_ATTEMPTS = 200;

function attemptConnect(port: number, host: string): Promise<{ sock: Socket } | { code: string }> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const onError = (err: NodeJS.ErrnoException): void => {
      sock.destroy();
      resolve({ code: err.code ?? 'ERROR' });
    };
    sock.once('error', onError);
    sock.once('connect', () => {
      sock.off('error', onError);
      resolve({ sock });
    });
  });
}

/**
 * Connects to `host:port`, retrying while the connection is refused (nothing listens yet) with a short
 * backoff, until `signal` aborts. Returns null when aborted or on any other error. `onRefused` is told
 * of each refused attempt.
 */
export async function connectWhenListening(port: number, signal: AbortSignal, opts: { host?: string; onRefused?: () => void } = {}): Promise<Socket | null> {
  const host = opts.host ?? TUNNEL_BIND;
  for (let attempt = 0; attempt < MAX_CONNECT_ATTEMPTS && !signal.aborted; attempt++) {
    const r = await attemptConnect(port, host);
    if ('sock' in r) {
      if (!signal.aborted) return r.sock;
      r.sock.destroy();
      return null;
    }
    if (r.code !== 'ECONNREFUSED') return null;
    opts.onRefused?.();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, Math.min(10 * 2 ** attempt, 200));
      function done(): void {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done);
    });
  }
  return null;
}

/** Opens one connection through the tunnel on `localPort` and reports how the gateway answered it. */
export async function probeTunnel(ssh: SshWatch, localPort: number, timeoutMs: number): Promise<ProbeResult> {
  const stop = new AbortController();
  const cleanups: (() => void)[] = [];
  let sock: Socket | null = null;
  try {
    return await new Promise<ProbeResult>((resolve) => {
      const finish = (r: ProbeResult): void => {
        if (stop.signal.aborted) return;
        stop.abort();
        resolve(r);
      };
      const timer = setTimeout(() => finish({ kind: 'timeout' }), timeoutMs);
      cleanups.push(() => clearTimeout(timer));
      // ssh's word on the channel counts from the first attempt on: it can come before the socket's news.
      cleanups.push(ssh.on((e) => {
        if (e.kind === 'open-confirm') finish({ kind: 'open' });
        else if (e.kind === 'open-failed') finish({ kind: 'refused', event: e });
      }));
      cleanups.push(ssh.onExit(() => finish({ kind: 'ssh-exited' })));
      void connectWhenListening(localPort, stop.signal).then((s) => {
        if (s === null) {
          finish({ kind: 'not-listening' });
          return;
        }
        sock = s;
        s.on('error', () => {});
        // Bytes from the service: the channel is open whatever ssh printed.
        s.on('data', () => finish({ kind: 'open' }));
        s.on('close', () => {
          if (stop.signal.aborted) return;
          // ssh closes the connection when the gateway refuses the channel (RFC 4254 §5.1), after
          // printing why; wait a moment for that line, and report the refusal without it otherwise.
          const grace = setTimeout(() => finish({ kind: 'refused', event: null }), REASON_GRACE_MS);
          cleanups.push(() => clearTimeout(grace));
        });
      });
    });
  } finally {
    stop.abort();
    for (const c of cleanups) c();
    (sock as Socket | null)?.destroy();
  }
}
