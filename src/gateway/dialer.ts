/**
 * The dialer: turns a direct-tcpip request into a connected socket, or a refusal. It asks the pure
 * policy, resolves a target's DNS name once (all addresses) when the policy says so, asks again with
 * the answers, and connects to exactly the address the policy returned — an IP literal, so there is no
 * second resolution and no DNS-rebinding window. The onward socket gets TCP_NODELAY: SSH packets are
 * small and latency-bound, and Nagle's algorithm would hold them back.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { connect, type Socket } from 'node:net';
import { decideForward, type ForwardDecision, type ForwardRequest } from '../policy/forward.ts';
import type { Target } from '../inventory/ports.ts';

/** Resolves a name to all its addresses. */
export type Resolver = (name: string) => Promise<string[]>;

/** The system resolver (getaddrinfo via dns.lookup), every address, in the resolver's order. */
export const systemResolver: Resolver = async (name) => (await dnsLookup(name, { all: true, order: 'verbatim' })).map((a) => a.address);

export type DialResult =
  | { ok: true; socket: Socket; target: Target; address: string; port: number }
  | { ok: false; stage: 'policy'; decision: Extract<ForwardDecision, { decision: 'deny' }> }
  | { ok: false; stage: 'connect'; target: Target; address: string | null; port: number; reason: 'unresolvable' | 'connect_failed' | 'connect_timeout'; message: string };

export interface DialOptions {
  resolve?: Resolver;
  connectTimeoutMs: number;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function connectTo(address: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address, port, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error('connection timed out'), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      socket.setNoDelay(true);
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    });
  });
}

/** Decides and, if allowed, connects. Never throws. */
export async function dial(req: ForwardRequest, opts: DialOptions): Promise<DialResult> {
  let decision = decideForward(req);
  if (decision.decision === 'resolve') {
    const { target, name } = decision;
    let addresses: string[];
    try {
      addresses = await withTimeout((opts.resolve ?? systemResolver)(name), opts.connectTimeoutMs, 'name resolution');
    } catch {
      return { ok: false, stage: 'connect', target, address: null, port: req.port, reason: 'unresolvable', message: `The address of ${target.name} (${name}) cannot be resolved.` };
    }
    decision = decideForward({ ...req, resolvedAddresses: addresses });
    // The policy asks once; a second 'resolve' would be a bug, and bugs deny.
    if (decision.decision === 'resolve') {
      return { ok: false, stage: 'connect', target, address: null, port: req.port, reason: 'unresolvable', message: `The address of ${target.name} cannot be resolved.` };
    }
  }
  if (decision.decision === 'deny') return { ok: false, stage: 'policy', decision };
  const { target, address, port } = decision;
  try {
    const socket = await connectTo(address, port, opts.connectTimeoutMs);
    return { ok: true, socket, target, address, port };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const timedOut = code === 'ETIMEDOUT';
    const what = code === 'ECONNREFUSED' ? 'connection refused (nothing listens on that port?)' : timedOut ? 'connection timed out' : code === 'EHOSTUNREACH' || code === 'ENETUNREACH' ? 'host unreachable' : 'connection failed';
    return { ok: false, stage: 'connect', target, address, port, reason: timedOut ? 'connect_timeout' : 'connect_failed', message: `${target.name} port ${port}: ${what}.` };
  }
}
