/**
 * The forwarding decision: may this user open a direct-tcpip channel (`ssh -J`, `-W`, `-L`) to this host
 * and port? Authorised like a login (checklist 4): the host must be one of the user's targets, by its
 * registered name or by its registered address (exact canonical match); the port must be the target's
 * SSH port or one of its services; the client must be inside the target's allowed CIDRs; the target must
 * not have expired; and the address actually dialled must be neither forbidden (loopback, link-local,
 * metadata, …) nor one of the gateway's own listeners. Pure: DNS results come in as input, and the
 * caller connects to exactly the address returned — no second resolution, no DNS-rebinding window.
 */
import type { Target } from '../inventory/ports.ts';
import { cidrListContains, parseCidr, type Cidr, type IpAddress } from '../ssh/cidr.ts';
import { canonicalHost, isLoopbackName, type CanonicalHost } from './address.ts';
import { forbiddenClass, isLoopback, isUnspecified, type ForbiddenClass } from './forbidden.ts';

/** Stable reason codes of a refused forward (audit `reason`). */
export type ForwardDenyReason =
  | 'invalid_host'
  | 'invalid_port'
  | 'forbidden_address'
  | 'own_listener'
  | 'not_a_target'
  | 'target_expired'
  | 'port_not_allowed'
  | 'client_address_not_allowed'
  | 'invalid_target'
  | 'unresolvable';

/** A listener of this gateway process (SSH, HTTP, …): never a forwarding destination. */
export interface OwnListener {
  address: string;
  port: number;
}

export interface ForwardRequest {
  /** The user's reachable targets (their projects' targets; expired ones may be included, they are refused). */
  targets: readonly Target[];
  /** The host as the client sent it. */
  host: string;
  /** The port as the client sent it. */
  port: number;
  /** The addresses the matched target's DNS name resolved to; absent until the caller has resolved it. */
  resolvedAddresses?: readonly string[];
  /** The client's address (socket peer). */
  clientAddress: string;
  /** The gateway's own listeners; a wildcard listener (0.0.0.0, ::) stands for loopback and `localAddresses`. */
  ownListeners: readonly OwnListener[];
  /** Addresses of this host's interfaces, for wildcard listeners. */
  localAddresses?: readonly string[];
  /** Epoch ms. */
  now: number;
  /** Test-only: see ForbiddenOptions.allowLoopback. */
  allowLoopback?: boolean;
}

/** The outcome: connect to `address`:`port` of `target`; resolve `name` first; or refuse. */
export type ForwardDecision =
  | { decision: 'allow'; target: Target; address: string; port: number }
  | { decision: 'resolve'; target: Target; name: string }
  | { decision: 'deny'; reason: ForwardDenyReason; message: string; forbidden?: ForbiddenClass };

function deny(reason: ForwardDenyReason, message: string, forbidden?: ForbiddenClass): ForwardDecision {
  return forbidden === undefined ? { decision: 'deny', reason, message } : { decision: 'deny', reason, message, forbidden };
}

const show = (s: string): string => JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);

function sameIp(a: IpAddress, b: IpAddress): boolean {
  return a.family === b.family && a.bytes.equals(b.bytes);
}

/** Whether `ip`:`port` is one of the gateway's own listeners. */
function isOwnListener(ip: IpAddress, port: number, req: ForwardRequest): boolean {
  for (const l of req.ownListeners) {
    if (l.port !== port) continue;
    const c = canonicalHost(l.address);
    // A listener we cannot parse could be anything: treat it as covering this port everywhere.
    if (c.kind !== 'ip') return true;
    if (sameIp(c.ip, ip)) return true;
    if (isUnspecified(c.ip)) {
      if (isLoopback(ip) || isUnspecified(ip)) return true;
      for (const local of req.localAddresses ?? []) {
        const lc = canonicalHost(local);
        if (lc.kind === 'ip' && sameIp(lc.ip, ip)) return true;
      }
    }
  }
  return false;
}

/** Why connecting to `ip`:`port` is never allowed, or undefined. */
function destinationProblem(ip: IpAddress, text: string, port: number, req: ForwardRequest): ForwardDecision | undefined {
  const cls = forbiddenClass(ip, { allowLoopback: req.allowLoopback === true });
  if (cls !== undefined) return deny('forbidden_address', `${text} is a ${cls.replace('_', '-')} address; the gateway does not connect there.`, cls);
  if (isOwnListener(ip, port, req)) return deny('own_listener', `${text} port ${port} is the gateway itself.`);
  return undefined;
}

function targetHost(t: Target): CanonicalHost {
  return canonicalHost(t.host);
}

/** The user's targets that the requested host names: by name, by registered DNS name, or by address. */
function candidates(req: ForwardRequest, host: CanonicalHost): Target[] {
  if (host.kind === 'name') {
    const byName = req.targets.filter((t) => t.name.toLowerCase() === host.name);
    if (byName.length > 0) return byName;
    return req.targets.filter((t) => {
      const h = targetHost(t);
      return h.kind === 'name' && h.name === host.name;
    });
  }
  if (host.kind === 'ip') {
    return req.targets.filter((t) => {
      const h = targetHost(t);
      return h.kind === 'ip' && sameIp(h.ip, host.ip);
    });
  }
  return [];
}

function parseCidrs(list: readonly string[]): Cidr[] | undefined {
  try {
    return list.map((c) => parseCidr(c));
  } catch {
    return undefined;
  }
}

/**
 * Why a client at `clientAddress` may not reach target `t` — outside the target's allowed client CIDRs
 * (Rescale's per-job restriction), or the restriction is unreadable (fail closed) — or undefined. The
 * one rule for forwards (decideForward) and for the lobby's marks.
 */
export function clientAddressProblem(t: Target, clientAddress: string): ForwardDecision | undefined {
  if (t.allowedCidrs.length === 0) return undefined;
  const blocks = parseCidrs(t.allowedCidrs);
  if (blocks === undefined) return deny('invalid_target', `Target ${t.name} has an invalid client address restriction; ask an operator.`);
  let inside = false;
  try {
    inside = cidrListContains(blocks, clientAddress);
  } catch {
    inside = false;
  }
  return inside ? undefined : deny('client_address_not_allowed', `Target ${t.name} cannot be reached from your address ${clientAddress}.`);
}

/** Checks one candidate target: expiry, port, client CIDRs, then the destination address. */
function checkTarget(t: Target, req: ForwardRequest): ForwardDecision {
  if (t.expiresAt !== null && t.expiresAt <= req.now) return deny('target_expired', `Target ${t.name} has expired.`);
  const ports = [t.port, ...t.services.map((s) => s.port)];
  if (!ports.includes(req.port)) {
    return deny('port_not_allowed', `Port ${req.port} is not open to you on ${t.name}; allowed: ${[...new Set(ports)].join(', ')}.`);
  }
  const fromHere = clientAddressProblem(t, req.clientAddress);
  if (fromHere !== undefined) return fromHere;
  const h = targetHost(t);
  if (h.kind === 'invalid') return deny('invalid_target', `Target ${t.name} has an invalid address; ask an operator.`);
  if (h.kind === 'ip') {
    return destinationProblem(h.ip, h.text, req.port, req) ?? { decision: 'allow', target: t, address: h.text, port: req.port };
  }
  if (isLoopbackName(h.name) && req.allowLoopback !== true) return deny('forbidden_address', `${h.name} names this host; the gateway does not connect there.`, 'loopback');
  if (req.resolvedAddresses === undefined) return { decision: 'resolve', target: t, name: h.name };
  if (req.resolvedAddresses.length === 0) return deny('unresolvable', `The address of ${t.name} (${h.name}) cannot be resolved.`);
  let chosen: string | undefined;
  // Every address must pass, not just the first: a name that also resolves to loopback is an attack
  // (DNS rebinding), and refusing it outright leaves no window to exploit.
  for (const a of req.resolvedAddresses) {
    const c = canonicalHost(a);
    if (c.kind !== 'ip') return deny('unresolvable', `The address of ${t.name} resolved to something that is not an IP address.`);
    const problem = destinationProblem(c.ip, c.text, req.port, req);
    if (problem !== undefined) return problem;
    chosen ??= c.text;
  }
  return { decision: 'allow', target: t, address: chosen!, port: req.port };
}

/**
 * Decides a forward. Call it once without `resolvedAddresses`; if the answer is 'resolve', look the name
 * up once (all addresses) and call it again with them; on 'allow', connect to exactly `address`.
 */
export function decideForward(req: ForwardRequest): ForwardDecision {
  if (!Number.isInteger(req.port) || req.port < 1 || req.port > 65535) return deny('invalid_port', `Port ${String(req.port)} is not a valid port.`);
  const host = canonicalHost(req.host);
  if (host.kind === 'invalid') return deny('invalid_host', `The host ${show(req.host)} ${host.problem}.`);
  // Refuse forbidden destinations before looking at targets, so the audit log names the attack even
  // when the address is nobody's target.
  if (host.kind === 'ip') {
    const problem = destinationProblem(host.ip, host.text, req.port, req);
    if (problem !== undefined) return problem;
  } else if (isLoopbackName(host.name) && req.allowLoopback !== true) {
    return deny('forbidden_address', `${host.name} names this host; the gateway does not connect there.`, 'loopback');
  }
  const found = candidates(req, host);
  if (found.length === 0) {
    // The same answer whether the target exists in another project or not at all: no enumeration.
    return deny('not_a_target', `${show(req.host)} is not one of your targets; "ssh GATEWAY hosts" lists them.`);
  }
  let first: ForwardDecision | undefined;
  for (const t of found) {
    const d = checkTarget(t, req);
    if (d.decision !== 'deny') return d;
    first ??= d;
  }
  return first!;
}

/** The canonical text of a socket peer address (IPv4-mapped IPv6 becomes IPv4), or undefined. */
export function canonicalClientAddress(address: string): string | undefined {
  const c = canonicalHost(address);
  return c.kind === 'ip' ? c.text : undefined;
}
