/**
 * The socket side of the PROXY protocol (proxy-protocol.ts parses): reading the header a trusted load
 * balancer writes before the client's bytes, and spotting a header sent by anyone else.
 *  - From a trusted peer, the header must arrive first, whole, within `timeoutMs` and `MAX_HEADER_LENGTH`
 *    bytes; whatever follows it (the client's SSH banner, often in the same segment) is unshifted back
 *    onto the socket so that ssh2 reads it as if it came first.
 *  - From any other peer, a PROXY header is an attempt to choose the address the gateway believes
 *    (checklist 11): the connection is dropped. The check looks only at the first bytes, alongside ssh2,
 *    so that the server's banner is not delayed for clients that wait for it.
 */
import type { Socket } from 'node:net';
import { looksLikeProxyHeader, MAX_HEADER_LENGTH, parseProxyHeader, type ProxyEndpoint } from './proxy-protocol.ts';

export type ProxyRead =
  | { kind: 'proxy'; source: ProxyEndpoint; version: 1 | 2 }
  | { kind: 'local'; version: 1 | 2 }
  | { kind: 'refused'; reason: 'proxy_header_invalid' | 'proxy_header_missing' | 'proxy_header_timeout' | 'closed'; detail: string };

/** Reads the PROXY header from `socket` (not yet read by anyone); never rejects. */
export function readProxyHeader(socket: Socket, timeoutMs: number): Promise<ProxyRead> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (r: ProxyRead, leftover?: Buffer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.off('readable', onReadable);
      socket.off('close', onClose);
      if (leftover !== undefined && leftover.length > 0) socket.unshift(leftover);
      resolve(r);
    };
    const onClose = () => finish({ kind: 'refused', reason: 'closed', detail: 'closed before the PROXY header' });
    const onReadable = () => {
      let chunk: Buffer | null;
      while (!done && (chunk = socket.read() as Buffer | null) !== null) {
        chunks.push(chunk);
        size += chunk.length;
        const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        chunks.length = 0;
        chunks.push(buf);
        const h = parseProxyHeader(buf);
        if (h.kind === 'incomplete') {
          // The parser bounds every header; this is a second fence.
          if (size > MAX_HEADER_LENGTH) finish({ kind: 'refused', reason: 'proxy_header_invalid', detail: 'PROXY header too long' });
          continue;
        }
        if (h.kind === 'invalid') {
          finish({ kind: 'refused', reason: h.reason === 'no PROXY protocol header' ? 'proxy_header_missing' : 'proxy_header_invalid', detail: h.reason });
          return;
        }
        const rest = buf.subarray(h.length);
        finish(h.kind === 'proxy' ? { kind: 'proxy', source: h.source, version: h.version } : { kind: 'local', version: h.version }, rest);
      }
    };
    const timer = setTimeout(() => finish({ kind: 'refused', reason: 'proxy_header_timeout', detail: `no PROXY header within ${timeoutMs} ms` }), timeoutMs);
    socket.on('readable', onReadable);
    socket.once('close', onClose);
  });
}

/**
 * Watches the first bytes a client sends (next to ssh2, which reads them too) and calls `onHeader`
 * if they are a PROXY header. Stops watching as soon as they cannot be one.
 */
export function watchForProxyHeader(socket: Socket, onHeader: () => void): void {
  let head = Buffer.alloc(0);
  const onData = (d: Buffer) => {
    head = Buffer.concat([head, d.subarray(0, 16)]);
    if (!looksLikeProxyHeader(head)) return void socket.off('data', onData);
    // "PROXY" or the v2 signature's first five bytes: no SSH client starts like that.
    if (head.length >= 5) {
      socket.off('data', onData);
      onHeader();
    }
  };
  socket.prependListener('data', onData);
}
