/**
 * The client's address behind reverse proxies. A forwarded header is just text the client can write,
 * so it is believed only from a peer listed in AIRLOCK_TRUSTED_PROXIES, and only as far as the chain of
 * trusted hops reaches: the list is walked from the right (each proxy appends the address it saw) and
 * the first address that is not itself a trusted proxy is the client (RFC 7239 §5.2, §8.1; the same rule
 * as nginx's `real_ip_recursive on`). What a client wrote further left is never read, so a forged
 * `X-Forwarded-For: 1.2.3.4` in front of the proxy's own entry changes nothing. Anything unreadable
 * where the walk needs an address ends the walk at the peer: garbage is never believed. No I/O here.
 */
import { canonicalIp, cidrContains, parseCidr, type Cidr } from '../ssh/cidr.ts';

/** Which header the trusted proxies set (`AIRLOCK_TRUSTED_PROXY_HEADER`). */
export type ForwardedHeaderName = 'x-forwarded-for' | 'forwarded';

/** The settings that decide whose forwarded header is believed. */
export interface TrustedProxies {
  cidrs: Cidr[];
  header: ForwardedHeaderName;
}

/** Parses the configured CIDR list once (config.ts has already validated it). */
export function trustedProxies(cidrs: readonly string[], header: ForwardedHeaderName = 'x-forwarded-for'): TrustedProxies {
  return { cidrs: cidrs.map((c) => parseCidr(c)), header };
}

// Headers longer than this are not read: a proxy chain is a handful of hops, not kilobytes.
const MAX_HEADER = 4096;
const MAX_HOPS = 64;
// RFC 7230 §3.2.6 tchar, plus the characters of an unquoted address with a port that lenient proxies send.
const TCHAR = /[!#$%&'*+.^_`|~0-9A-Za-z:[\]-]/;

/** The canonical address of a forwarded node (`1.2.3.4`, `1.2.3.4:80`, `[2001:db8::1]`, `[2001:db8::1]:80`, bare IPv6), or undefined. */
export function forwardedNodeAddress(node: string): string | undefined {
  let text = node.trim();
  const withPort = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text) ?? /^([0-9.]+):(\d{1,5})$/.exec(text);
  if (withPort) {
    if (withPort[2] !== undefined && Number(withPort[2]) > 65535) return undefined;
    text = withPort[1]!;
  }
  try {
    return canonicalIp(text);
  } catch {
    return undefined; // "unknown", an obfuscated identifier (RFC 7239 §6.3), a name, a zone ID, garbage
  }
}

/** The `X-Forwarded-For` hops, left to right (each entry: an address or undefined when unreadable). */
export function parseXForwardedFor(value: string): (string | undefined)[] {
  return value.split(',').map((entry) => forwardedNodeAddress(entry));
}

/**
 * The `for=` node of each element of an RFC 7239 `Forwarded` header, left to right (undefined when the
 * element has no readable address); null when the header does not follow the grammar at all (an
 * unterminated quoted string, a pair without `=`), since then no element boundary can be trusted.
 */
export function parseForwarded(value: string): (string | undefined)[] | null {
  const elements: (string | undefined)[] = [];
  let i = 0;
  const n = value.length;
  const skipSpace = () => {
    while (i < n && (value[i] === ' ' || value[i] === '\t')) i++;
  };
  let pairs = 0;
  let forNode: string | undefined;
  let forCount = 0;
  for (;;) {
    skipSpace();
    // forwarded-pair = token "=" value (RFC 7239 §4)
    const tokenStart = i;
    while (i < n && TCHAR.test(value[i]!)) i++;
    const token = value.slice(tokenStart, i).toLowerCase();
    if (token !== '') {
      if (value[i] !== '=') return null;
      i++;
      let v = '';
      if (value[i] === '"') {
        i++;
        for (;;) {
          if (i >= n) return null;
          const ch = value[i]!;
          i++;
          if (ch === '"') break;
          if (ch === '\\') {
            if (i >= n) return null;
            v += value[i];
            i++;
          } else {
            v += ch;
          }
        }
      } else {
        const start = i;
        while (i < n && TCHAR.test(value[i]!)) i++;
        v = value.slice(start, i);
      }
      pairs++;
      if (token === 'for') {
        forCount++;
        forNode = forwardedNodeAddress(v);
      }
      skipSpace();
    }
    if (i >= n || value[i] === ',') {
      // Empty list elements are allowed and mean nothing (RFC 7230 §7). A repeated `for` makes the
      // element ambiguous (RFC 7239 §4: each parameter at most once), so it reads as unreadable.
      if (pairs > 0) elements.push(forCount === 1 ? forNode : undefined);
      pairs = 0;
      forNode = undefined;
      forCount = 0;
      if (i >= n) break;
      i++;
      continue;
    }
    if (value[i] === ';' && token !== '') {
      i++;
      continue;
    }
    return null;
  }
  return elements;
}

/**
 * The client's address for a request that arrived from `peer` carrying `headerValue` (the configured
 * forwarded header, or undefined): the peer itself unless it is a trusted proxy, otherwise the rightmost
 * forwarded address that is not a trusted proxy (or the leftmost, if every hop is trusted). Canonical
 * text (IPv4-mapped IPv6 becomes IPv4), or null without a peer.
 */
export function resolveClientAddress(peer: string | null, headerValue: string | undefined, trust: TrustedProxies): string | null {
  if (peer === null) return null;
  let address: string;
  try {
    address = canonicalIp(peer);
  } catch {
    return peer; // not an IP peer (a unix socket): nothing to canonicalise or trust
  }
  const trusted = (a: string) => trust.cidrs.some((c) => cidrContains(c, a));
  if (trust.cidrs.length === 0 || headerValue === undefined || !trusted(address)) return address;
  if (headerValue.length > MAX_HEADER) return address;
  const hops = trust.header === 'forwarded' ? parseForwarded(headerValue) : parseXForwardedFor(headerValue);
  if (hops === null || hops.length === 0 || hops.length > MAX_HOPS) return address;
  let client = address;
  for (let k = hops.length - 1; k >= 0; k--) {
    const hop = hops[k];
    // Unreadable where an address is needed: believe nothing beyond the peer.
    if (hop === undefined) return address;
    client = hop;
    if (!trusted(hop)) break;
  }
  // Every hop trusted: the leftmost is as far as anyone can tell (nginx's real_ip_recursive does the same).
  return client;
}
