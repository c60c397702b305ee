/**
 * The rules for what the inventory stores: project and target names, hosts, ports, login accounts
 * and client CIDRs. Everything is checked (and canonicalised) once, on the way in, so that the
 * gateway and the generated ssh config can trust what they read.
 */
import { AirlockError } from '../errors.ts';
import { formatCidr, formatIp, parseCidr, parseIp } from '../ssh/cidr.ts';

const PROJECT_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
// Target names become ssh `Host` aliases and DNS-like names in generated config: one DNS label,
// lower case (ssh_config matches Host patterns case-insensitively, so two names differing only in
// case would collide).
const TARGET_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
// The portable subset of useradd's rules, as for Airlock's own user names.
const LOGIN_USER = /^[a-z_][a-z0-9_.-]{0,31}$/;
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
// inet_aton (which getaddrinfo falls back to) reads "2130706433", "0x7f000001" or "127.1" as IPv4
// addresses; a host name whose last label is numeric would therefore not be a name at all
// (RFC 1123 §2.1, RFC 3696 §2: a top-level label is never all-numeric).
const NUMERIC_LABEL = /^(0x[0-9a-f]*|[0-9]+)$/;
const MAX_CIDRS = 64;

/** The default SSH port when an address gives none. */
export const DEFAULT_SSH_PORT = 22;

const show = (s: string): string => JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);

/** Throws bad_request unless the name is a valid project name. */
export function checkProjectName(name: string): void {
  if (!PROJECT_NAME.test(name)) {
    throw new AirlockError('bad_request', `${show(name)} is not a valid project name: use 1 to 63 lower-case letters, digits, "_" or "-", starting with a letter or digit.`);
  }
}

/** Throws bad_request unless the name is a valid target name. */
export function checkTargetName(name: string): void {
  if (!TARGET_NAME.test(name)) {
    throw new AirlockError('bad_request', `${show(name)} is not a valid target name: use 1 to 63 lower-case letters, digits or "-", starting with a letter or digit (it becomes an ssh Host alias).`);
  }
}

/** Throws bad_request unless the name is a Unix account name a target could have. */
export function checkLoginUser(name: string): void {
  if (!LOGIN_USER.test(name)) {
    throw new AirlockError('bad_request', `${show(name)} is not a valid login account: use 1 to 32 lower-case letters, digits, "_", "." or "-", starting with a letter or "_".`);
  }
}

/** Throws bad_request unless `port` is an integer from 1 to 65535. */
export function checkPort(port: number, what = 'port'): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new AirlockError('bad_request', `The ${what} must be a number from 1 to 65535.`);
}

/** Parses a decimal port number (no sign, no leading zeros, 1–65535). */
export function parsePort(text: string, what = 'port'): number {
  if (!/^[1-9][0-9]{0,4}$/.test(text)) throw new AirlockError('bad_request', `${show(text)} is not a valid ${what}: give a number from 1 to 65535.`);
  const port = Number(text);
  checkPort(port, what);
  return port;
}

/**
 * A target host in canonical form: an IPv4 or IPv6 literal (RFC 5952 text; IPv4-mapped IPv6 becomes
 * IPv4; brackets allowed around IPv6; no zone IDs) or a DNS name (lower-cased, trailing dot dropped).
 */
export function parseHost(text: string): string {
  const bracketed = /^\[(.*)\]$/.exec(text);
  const inner = bracketed ? bracketed[1]! : text;
  if (bracketed || inner.includes(':')) {
    const ip = tryParseIp(inner);
    if (ip === undefined || (bracketed && !inner.includes(':'))) throw new AirlockError('bad_request', `${show(text)} is not a valid IPv6 address.`);
    return ip;
  }
  const ip = tryParseIp(inner);
  if (ip !== undefined) return ip;
  const name = inner.toLowerCase().replace(/\.$/, '');
  const labels = name.split('.');
  const ok = name.length > 0 && name.length <= 253 && labels.every((l) => DNS_LABEL.test(l));
  if (!ok) throw new AirlockError('bad_request', `${show(text)} is not a valid host: give an IPv4 or IPv6 address or a DNS name.`);
  if (NUMERIC_LABEL.test(labels[labels.length - 1]!)) {
    throw new AirlockError('bad_request', `${show(text)} looks like a numeric address in a legacy form; write IPv4 addresses as four decimal numbers, e.g. 10.0.0.5.`);
  }
  return name;
}

function tryParseIp(text: string): string | undefined {
  try {
    return formatIp(parseIp(text));
  } catch (err) {
    // A zone ID is a definite answer ("not accepted"), not "this is not an IP address".
    if (text.includes('%')) throw err;
    return undefined;
  }
}

/** Parses `HOST`, `HOST:PORT`, `[IPv6]`, `[IPv6]:PORT` or a bare IPv6 address; the port defaults to 22. */
export function parseAddress(text: string): { host: string; port: number } {
  const bracketed = /^(\[[^\]]*\])(?::([^:]*))?$/.exec(text);
  if (bracketed) return { host: parseHost(bracketed[1]!), port: bracketed[2] === undefined ? DEFAULT_SSH_PORT : parsePort(bracketed[2], 'SSH port') };
  const colons = text.split(':').length - 1;
  // Two or more colons without brackets can only be an IPv6 address, which then carries no port.
  if (colons !== 1) return { host: parseHost(text), port: DEFAULT_SSH_PORT };
  const [host, port] = text.split(':') as [string, string];
  return { host: parseHost(host), port: parsePort(port, 'SSH port') };
}

/** Client CIDRs in canonical form, duplicates dropped; throws bad_request on a malformed one. */
export function canonicalCidrs(list: readonly string[]): string[] {
  if (list.length > MAX_CIDRS) throw new AirlockError('bad_request', `At most ${MAX_CIDRS} client CIDRs per target.`);
  return [...new Set(list.map((c) => formatCidr(parseCidr(c))))];
}

/** Formats a host and port the way ssh and URLs want them (IPv6 in brackets). */
export function formatAddress(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}
