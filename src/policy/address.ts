/**
 * Canonical forms of the host strings a client puts in a direct-tcpip request (`ssh -W HOST:PORT`,
 * `-L PORT:HOST:PORT`, `-J`). The resolver behind `connect()` accepts far more than dotted quads —
 * inet_aton's `2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1`; IPv4-mapped IPv6; zone IDs; trailing
 * dots; brackets; upper case — and every one of them is a way to spell loopback or cloud metadata. So
 * the policy decides on the canonical form only, and anything that looks numeric but is not a valid
 * address is refused rather than handed to DNS. No I/O here.
 */
import { formatIp, parseIp, type IpAddress } from '../ssh/cidr.ts';

/** A host as the policy sees it: an address (canonical text) or a lower-case DNS name without trailing dot. */
export type CanonicalHost =
  | { kind: 'ip'; ip: IpAddress; text: string }
  | { kind: 'name'; name: string }
  | { kind: 'invalid'; problem: string };

const MAX_NAME = 253;
const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;
const INET_ATON_PART = /^(0x[0-9a-f]*|[0-9]+)$/;

/**
 * Parses an IPv4 address the way inet_aton(3) does: one to four parts, each decimal, octal (leading 0)
 * or hexadecimal (0x), the last part filling the remaining bytes. Returns undefined when the text is
 * not in that grammar, and 'invalid' when it is numeric but out of range (e.g. `08.1`, `256.1.1.1`).
 */
export function parseInetAton(text: string): IpAddress | 'invalid' | undefined {
  const parts = text.split('.');
  if (parts.length > 4 || !parts.every((p) => INET_ATON_PART.test(p))) return undefined;
  const values: number[] = [];
  for (const p of parts) {
    let v: number;
    if (p.startsWith('0x')) {
      // glibc accepts a bare "0x" as 0; so do we, since a resolver would.
      v = p.length === 2 ? 0 : parseInt(p.slice(2), 16);
      if (p.length > 10) return 'invalid';
    } else if (p.length > 1 && p.startsWith('0')) {
      if (!/^[0-7]+$/.test(p)) return 'invalid';
      if (p.length > 12) return 'invalid';
      v = parseInt(p, 8);
    } else {
      if (p.length > 10) return 'invalid';
      v = Number(p);
    }
    if (!Number.isSafeInteger(v)) return 'invalid';
    values.push(v);
  }
  const last = values[values.length - 1]!;
  const leading = values.slice(0, -1);
  if (leading.some((v) => v > 255)) return 'invalid';
  const lastBytes = 4 - leading.length;
  if (last >= 2 ** (8 * lastBytes)) return 'invalid';
  const bytes = Buffer.alloc(4);
  leading.forEach((v, i) => (bytes[i] = v));
  for (let i = 0; i < lastBytes; i++) bytes[3 - i] = Math.floor(last / 2 ** (8 * i)) & 0xff;
  return { family: 4, bytes };
}

function ipHost(ip: IpAddress): CanonicalHost {
  return { kind: 'ip', ip, text: formatIp(ip) };
}

function tryParseIp(text: string): IpAddress | undefined {
  try {
    return parseIp(text);
  } catch {
    return undefined;
  }
}

/**
 * The canonical form of a host string from a client or from the inventory. IP addresses come back in
 * their canonical text (IPv4-mapped IPv6 as IPv4, zone IDs dropped); names come back in lower case
 * without a trailing dot; everything else is 'invalid' with a reason.
 */
export function canonicalHost(input: string): CanonicalHost {
  if (typeof input !== 'string' || input.length === 0) return { kind: 'invalid', problem: 'is empty' };
  if (input.length > MAX_NAME + 3) return { kind: 'invalid', problem: 'is too long' };
  // eslint-disable-next-line no-control-regex -- whitespace and control characters are never part of a host
  if (/[\s\x00-\x1f\x7f]/.test(input)) return { kind: 'invalid', problem: 'contains whitespace or control characters' };
  let text = input.toLowerCase();
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  if (text.includes(':')) {
    // A zone ID only scopes a link-local address to an interface; the address itself decides.
    const percent = text.indexOf('%');
    const bare = percent < 0 ? text : text.slice(0, percent);
    if (percent >= 0 && !/^[a-z0-9_.-]{1,32}$/.test(text.slice(percent + 1))) return { kind: 'invalid', problem: 'has a malformed zone ID' };
    const ip = tryParseIp(bare);
    return ip ? ipHost(ip) : { kind: 'invalid', problem: 'is not a valid IPv6 address' };
  }
  if (text.includes('%')) return { kind: 'invalid', problem: 'has a zone ID but is not an IPv6 address' };
  if (text.endsWith('.')) text = text.slice(0, -1);
  if (text.length === 0 || text.length > MAX_NAME) return { kind: 'invalid', problem: 'is not a valid host name' };
  const v4 = parseInetAton(text);
  if (v4 === 'invalid') return { kind: 'invalid', problem: 'is a malformed numeric address' };
  if (v4 !== undefined) return ipHost(v4);
  const labels = text.split('.');
  if (!labels.every((l) => LABEL.test(l))) return { kind: 'invalid', problem: 'is not a valid host name' };
  // A name whose last label is all digits is an address in disguise to some resolver; RFC 3696 §2
  // rules out all-numeric top-level domains, so no legitimate name looks like this.
  if (/^[0-9]+$/.test(labels[labels.length - 1]!) || /^0x[0-9a-f]*$/.test(labels[labels.length - 1]!)) {
    return { kind: 'invalid', problem: 'is a malformed numeric address' };
  }
  return { kind: 'name', name: text };
}

/** Names that mean "this host" to every resolver (RFC 6761 §6.3, Debian's /etc/hosts defaults). */
export function isLoopbackName(name: string): boolean {
  return (
    name === 'localhost' ||
    name.endsWith('.localhost') ||
    name === 'localhost.localdomain' ||
    name === 'ip6-localhost' ||
    name === 'ip6-loopback' ||
    name === 'localhost6' ||
    name === 'localhost6.localdomain6'
  );
}
