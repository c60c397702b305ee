/**
 * IPv4/IPv6 addresses and CIDR blocks, for the certificate `source-address` critical option (a
 * comma-separated CIDR list, PROTOCOL.certkeys) and for anyone else who matches client addresses.
 * Strict on purpose: no zone IDs, no leading zeros in IPv4 octets (some parsers read them as octal),
 * no host bits beyond the prefix. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, RFC 4291 §2.5.5.2) are
 * canonicalised to IPv4, so a dual-stack listener cannot be used to slip past an IPv4 rule.
 */
import { AirlockError } from '../errors.ts';

/** An IP address as bytes (4 or 16). */
export interface IpAddress {
  family: 4 | 6;
  bytes: Buffer;
}

/** A CIDR block; `bytes` has no bits set past `prefix`. */
export interface Cidr {
  family: 4 | 6;
  bytes: Buffer;
  prefix: number;
}

const IPV4 = /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])){3}$/;
const MAPPED_PREFIX = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);

function bad(message: string): AirlockError {
  return new AirlockError('bad_request', message);
}

function parseIpv4Bytes(s: string): Buffer | undefined {
  if (!IPV4.test(s)) return undefined;
  return Buffer.from(s.split('.').map(Number));
}

function parseIpv6Bytes(s: string): Buffer | undefined {
  if (s.length > 45 || !/^[0-9A-Fa-f:.]+$/.test(s)) return undefined;
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const pieces = part.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i]!;
      if (i === pieces.length - 1 && p.includes('.')) {
        const v4 = parseIpv4Bytes(p);
        if (v4 === undefined) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9A-Fa-f]{1,4}$/.test(p)) return undefined;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (head === undefined || tail === undefined) return undefined;
  // An embedded IPv4 address may only end the address.
  if (halves.length === 2 && halves[0]!.includes('.')) return undefined;
  let all: number[];
  if (halves.length === 2) {
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return undefined;
    all = [...head, ...new Array<number>(missing).fill(0), ...tail];
  } else {
    all = head;
  }
  if (all.length !== 8) return undefined;
  const b = Buffer.alloc(16);
  all.forEach((g, i) => b.writeUInt16BE(g, i * 2));
  return b;
}

/** Parses an IP address; IPv4-mapped IPv6 becomes IPv4. Throws bad_request if it is not one. */
export function parseIp(s: string): IpAddress {
  const v4 = parseIpv4Bytes(s);
  if (v4 !== undefined) return { family: 4, bytes: v4 };
  if (s.includes('%')) throw bad(`IP address ${JSON.stringify(s.slice(0, 64))} has a zone ID, which is not accepted`);
  const v6 = parseIpv6Bytes(s);
  if (v6 === undefined) throw bad(`not an IP address: ${JSON.stringify(s.slice(0, 64))}`);
  if (v6.subarray(0, 12).equals(MAPPED_PREFIX)) return { family: 4, bytes: Buffer.from(v6.subarray(12)) };
  return { family: 6, bytes: v6 };
}

/** The canonical text of an address (IPv4 dotted quad; IPv6 per RFC 5952). */
export function formatIp(ip: IpAddress): string {
  if (ip.family === 4) return [...ip.bytes].join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(ip.bytes.readUInt16BE(i));
  // RFC 5952 §4.2: compress the longest run of two or more zero groups, the first if tied.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

// Every HTTP request canonicalises its peer's address, and peers repeat: remembering the last few
// answers saves a parse and a format per request. Only valid addresses are kept (short strings), and
// the map is emptied when full, so no input can make it grow.
const CANONICAL_CACHE_LIMIT = 1024;
const canonicalCache = new Map<string, string>();

/** The canonical text of an address given as text (IPv4-mapped IPv6 becomes IPv4). */
export function canonicalIp(s: string): string {
  let c = canonicalCache.get(s);
  if (c === undefined) {
    c = formatIp(parseIp(s));
    if (canonicalCache.size >= CANONICAL_CACHE_LIMIT) canonicalCache.clear();
    canonicalCache.set(s, c);
  }
  return c;
}

/** Parses `address[/prefix]` (no prefix: a single host). Refuses host bits beyond the prefix. */
export function parseCidr(s: string): Cidr {
  const slash = s.indexOf('/');
  const addrText = slash < 0 ? s : s.slice(0, slash);
  const prefixText = slash < 0 ? undefined : s.slice(slash + 1);
  let bytes: Buffer;
  let family: 4 | 6;
  const v4 = parseIpv4Bytes(addrText);
  if (v4 !== undefined) {
    bytes = v4;
    family = 4;
  } else {
    if (addrText.includes('%')) throw bad(`CIDR ${JSON.stringify(s.slice(0, 64))} has a zone ID, which is not accepted`);
    const v6 = parseIpv6Bytes(addrText);
    if (v6 === undefined) throw bad(`not a CIDR block: ${JSON.stringify(s.slice(0, 64))}`);
    bytes = v6;
    family = 6;
  }
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (prefixText !== undefined) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText) || Number(prefixText) > max) {
      throw bad(`invalid prefix length in ${JSON.stringify(s.slice(0, 64))} (0 to ${max})`);
    }
    prefix = Number(prefixText);
  }
  if (!hostBitsZero(bytes, prefix)) {
    const net = { family, bytes: maskBytes(bytes, prefix) };
    throw bad(`CIDR ${JSON.stringify(s.slice(0, 64))} has bits set past its prefix; did you mean ${formatIp(net)}/${prefix}?`);
  }
  // A block inside ::ffff:0:0/96 is an IPv4 block written in IPv6.
  if (family === 6 && prefix >= 96 && bytes.subarray(0, 12).equals(MAPPED_PREFIX)) {
    return { family: 4, bytes: Buffer.from(bytes.subarray(12)), prefix: prefix - 96 };
  }
  return { family, bytes, prefix };
}

function maskBytes(bytes: Buffer, prefix: number): Buffer {
  const out = Buffer.from(bytes);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    out[i] = out[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

function hostBitsZero(bytes: Buffer, prefix: number): boolean {
  return maskBytes(bytes, prefix).equals(bytes);
}

/** The canonical text of a CIDR block. */
export function formatCidr(c: Cidr): string {
  return `${formatIp(c)}/${c.prefix}`;
}

/** Whether `address` lies inside `cidr` (IPv4-mapped IPv6 addresses count as IPv4; families never cross). */
export function cidrContains(cidr: Cidr | string, address: string | IpAddress): boolean {
  const c = typeof cidr === 'string' ? parseCidr(cidr) : cidr;
  const a = typeof address === 'string' ? parseIp(address) : address;
  // Families never match across, as in OpenSSH's addr_netmatch: after canonicalisation an IPv4
  // client is IPv4 only, so "::/0" means "any IPv6 client", not everyone.
  if (c.family !== a.family) return false;
  return maskBytes(a.bytes, c.prefix).equals(c.bytes);
}

/** Parses a comma-separated CIDR list (the source-address syntax); no spaces, no empty entries. */
export function parseCidrList(list: string): Cidr[] {
  if (list === '') throw bad('empty CIDR list');
  return list.split(',').map((entry) => {
    if (entry === '') throw bad('CIDR list has an empty entry');
    return parseCidr(entry);
  });
}

/** Whether an address matches any block of a comma-separated CIDR list. */
export function cidrListContains(list: string | Cidr[], address: string): boolean {
  const blocks = typeof list === 'string' ? parseCidrList(list) : list;
  const a = parseIp(address);
  return blocks.some((c) => cidrContains(c, a));
}
