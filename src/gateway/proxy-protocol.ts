/**
 * The PROXY protocol (HAProxy's doc/proxy-protocol.txt, versions 1 and 2): a load balancer in front of
 * the SSH listener writes one header before the client's bytes, naming the client's address. Pure and
 * bounded: it looks at a buffer and says "need more", "invalid", or what the header says and how many
 * bytes it used. Written here rather than taken from npm (proxy-protocol-js, @balena/proxy-protocol-parser
 * parse whole buffers): the gateway needs an incremental "need more / invalid / done at byte N" answer
 * with a hard size bound on bytes it has not yet handed to ssh2, and a strict grammar at a trust
 * boundary; the format is small and fully specified, and 150 reviewed lines are less surface than a
 * dependency plus an adapter around it.
 *
 * Strict on purpose (the spec, §2.1 and §2.2): v1 is one line of at most 107 bytes with the exact
 * spelling `PROXY TCP4|TCP6|UNKNOWN src dst sport dport\r\n`; v2 has the 12-byte signature, version 2,
 * command LOCAL or PROXY, and at most MAX_V2_PAYLOAD bytes of addresses and TLVs (TLVs are skipped).
 * LOCAL (v2) and UNKNOWN (v1) — health checks of the proxy itself — and UNSPEC/UNIX families say
 * "use the socket's own peer", as the spec requires. The receiver never guesses: a trusted peer that
 * sends no header at all is refused, and so is a header from anyone else (`looksLikeProxyHeader`).
 */
import { parseIp } from '../ssh/cidr.ts';

/** The v2 signature (spec §2.2): CR LF CR LF NUL CR LF "QUIT" LF. */
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** Spec §2.1: the longest v1 line, CR LF included. */
export const MAX_V1_LENGTH = 107;
/** Addresses (216 bytes for UNIX) plus TLVs; proxies send a few dozen bytes of TLVs, allow plenty. */
export const MAX_V2_PAYLOAD = 4096;
/** No header is ever longer than this. */
export const MAX_HEADER_LENGTH = 16 + MAX_V2_PAYLOAD;

export interface ProxyEndpoint {
  address: string;
  port: number;
}

export type ProxyHeader =
  /** More bytes are needed to decide. */
  | { kind: 'incomplete' }
  | { kind: 'invalid'; reason: string }
  /** A proxied connection: `source` is the client. */
  | { kind: 'proxy'; version: 1 | 2; source: ProxyEndpoint; destination: ProxyEndpoint; length: number }
  /** v2 LOCAL, v1 UNKNOWN, or a family without addresses: the proxy speaks for itself (health checks). */
  | { kind: 'local'; version: 1 | 2; length: number };

/** Whether `head` (the first bytes of a connection, any length) is, or could still become, a PROXY header. */
export function looksLikeProxyHeader(head: Buffer): boolean {
  if (head.length === 0) return false;
  return prefixMatches(head, V1_PREFIX) || prefixMatches(head, V2_SIGNATURE);
}

function prefixMatches(head: Buffer, sig: Buffer): boolean {
  const n = Math.min(head.length, sig.length);
  return head.subarray(0, n).equals(sig.subarray(0, n));
}

/** Parses the header at the start of `buf`. */
export function parseProxyHeader(buf: Buffer): ProxyHeader {
  if (buf.length === 0) return { kind: 'incomplete' };
  if (prefixMatches(buf, V2_SIGNATURE)) return buf.length < V2_SIGNATURE.length ? { kind: 'incomplete' } : parseV2(buf);
  if (prefixMatches(buf, V1_PREFIX)) return buf.length < V1_PREFIX.length ? { kind: 'incomplete' } : parseV1(buf);
  return { kind: 'invalid', reason: 'no PROXY protocol header' };
}

const V1_PORT = /^(0|[1-9][0-9]{0,4})$/;

function parseV1(buf: Buffer): ProxyHeader {
  const limit = Math.min(buf.length, MAX_V1_LENGTH);
  let end = -1;
  for (let i = V1_PREFIX.length; i < limit; i++) {
    const b = buf[i]!;
    if (b === 0x0d) {
      end = i;
      break;
    }
    // Printable US-ASCII only (spec §2.1).
    if (b < 0x20 || b > 0x7e) return { kind: 'invalid', reason: 'v1 header with a non-printable byte' };
  }
  if (end === -1) return buf.length >= MAX_V1_LENGTH ? { kind: 'invalid', reason: 'v1 header longer than 107 bytes' } : { kind: 'incomplete' };
  if (end + 1 >= buf.length) return { kind: 'incomplete' };
  if (buf[end + 1] !== 0x0a) return { kind: 'invalid', reason: 'v1 header not ended by CR LF' };
  const length = end + 2;
  const fields = buf.toString('latin1', V1_PREFIX.length, end).split(' ');
  if (fields[0] === 'UNKNOWN') return { kind: 'local', version: 1, length };
  if (fields.length !== 5 || (fields[0] !== 'TCP4' && fields[0] !== 'TCP6')) return { kind: 'invalid', reason: 'v1 header with bad fields' };
  const family = fields[0] === 'TCP4' ? 4 : 6;
  const [, src, dst, sport, dport] = fields as [string, string, string, string, string];
  const source = v1Address(src, family);
  const destination = v1Address(dst, family);
  if (source === undefined || destination === undefined) return { kind: 'invalid', reason: 'v1 header with a bad address' };
  if (!V1_PORT.test(sport) || !V1_PORT.test(dport) || Number(sport) > 65535 || Number(dport) > 65535) return { kind: 'invalid', reason: 'v1 header with a bad port' };
  return { kind: 'proxy', version: 1, source: { address: source, port: Number(sport) }, destination: { address: destination, port: Number(dport) }, length };
}

/** A v1 address of the declared family, in canonical text (IPv4-mapped IPv6 stays what the family says). */
function v1Address(text: string, family: 4 | 6): string | undefined {
  if (family === 4) {
    try {
      const ip = parseIp(text);
      return ip.family === 4 && !text.includes(':') ? text : undefined;
    } catch {
      return undefined;
    }
  }
  if (!text.includes(':')) return undefined;
  try {
    const ip = parseIp(text);
    return ip.family === 4 ? ip.bytes.join('.') : ipv6Text(ip.bytes);
  } catch {
    return undefined;
  }
}

function parseV2(buf: Buffer): ProxyHeader {
  if (buf.length < 16) return { kind: 'incomplete' };
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return { kind: 'invalid', reason: 'v2 header with an unknown version' };
  const command = verCmd & 0x0f;
  if (command > 1) return { kind: 'invalid', reason: 'v2 header with an unknown command' };
  const famProto = buf[13]!;
  const payload = buf.readUInt16BE(14);
  if (payload > MAX_V2_PAYLOAD) return { kind: 'invalid', reason: `v2 header longer than ${MAX_V2_PAYLOAD} bytes` };
  const length = 16 + payload;
  if (buf.length < length) return { kind: 'incomplete' };
  // LOCAL: the proxy's own connection (health check); the address block is to be ignored (spec §2.2).
  if (command === 0) return { kind: 'local', version: 2, length };
  const family = famProto >> 4;
  const transport = famProto & 0x0f;
  if (family > 3 || transport > 2) return { kind: 'invalid', reason: 'v2 header with an unknown address family or transport' };
  // UNSPEC or UNIX: nothing usable about the client; the spec says to use the real connection's endpoints.
  if (family === 0 || family === 3) return { kind: 'local', version: 2, length };
  // SSH is a stream: a datagram source makes no sense here.
  if (transport !== 1) return { kind: 'invalid', reason: 'v2 header for a transport other than TCP' };
  const body = buf.subarray(16, length);
  if (family === 1) {
    if (body.length < 12) return { kind: 'invalid', reason: 'v2 header too short for IPv4 addresses' };
    return {
      kind: 'proxy', version: 2, length,
      source: { address: body.subarray(0, 4).join('.'), port: body.readUInt16BE(8) },
      destination: { address: body.subarray(4, 8).join('.'), port: body.readUInt16BE(10) },
    };
  }
  if (body.length < 36) return { kind: 'invalid', reason: 'v2 header too short for IPv6 addresses' };
  return {
    kind: 'proxy', version: 2, length,
    source: { address: ipv6Canonical(body.subarray(0, 16)), port: body.readUInt16BE(32) },
    destination: { address: ipv6Canonical(body.subarray(16, 32)), port: body.readUInt16BE(34) },
  };
}

/** IPv6 bytes as text; IPv4-mapped addresses become IPv4 (as everywhere else in Airlock). */
function ipv6Canonical(b: Buffer): string {
  const mapped = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  return mapped ? b.subarray(12, 16).join('.') : ipv6Text(b);
}

/** RFC 5952 text form: lower case, longest run of zero groups (two or more) as `::`. */
function ipv6Text(b: Buffer): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}
