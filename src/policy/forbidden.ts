/**
 * Address ranges the gateway never connects to, whatever the inventory says: a jump host that can reach
 * its own loopback, link-local networks or a cloud metadata service is a pivot into the platform
 * (checklist 4; the SSRF class of bugs). IPv6 forms that embed an IPv4 address (IPv4-compatible, NAT64,
 * 6to4) are judged by the embedded address too. No I/O here.
 */
import type { IpAddress } from '../ssh/cidr.ts';

/** Why an address is forbidden; stable, used in audit records. */
export type ForbiddenClass = 'loopback' | 'unspecified' | 'link_local' | 'metadata' | 'multicast' | 'reserved';

/** Options for forbiddenClass. */
export interface ForbiddenOptions {
  /**
   * Lets loopback addresses (127.0.0.0/8, ::1) through — for tests and single-host demos only, never in
   * production (`AIRLOCK_GATEWAY_ALLOW_LOOPBACK_TARGETS=1`). Everything else stays forbidden.
   */
  allowLoopback?: boolean;
}

const b = (...bytes: number[]): Buffer => Buffer.from(bytes);

/** Cloud metadata endpoints outside link-local space: AWS IPv6 IMDS, Alibaba Cloud. */
const METADATA_V6 = [Buffer.from('fd000ec2000000000000000000000254', 'hex')];
const METADATA_V4 = [b(100, 100, 100, 200)];

function v4Class(a: Buffer): ForbiddenClass | undefined {
  const [x, y] = [a[0]!, a[1]!];
  if (x === 127) return 'loopback';
  // 0.0.0.0/8 is "this network": connect() to 0.0.0.0 reaches the local host on Linux.
  if (x === 0) return 'unspecified';
  if (x === 169 && y === 254) return a[2] === 169 && a[3] === 254 ? 'metadata' : 'link_local';
  if (x >= 224 && x <= 239) return 'multicast';
  if (x >= 240) return 'reserved'; // includes 255.255.255.255
  if (METADATA_V4.some((m) => m.equals(a))) return 'metadata';
  return undefined;
}

function isZero(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] !== 0) return false;
  return true;
}

function v6Class(a: Buffer): ForbiddenClass | undefined {
  if (isZero(a, 0, 16)) return 'unspecified';
  if (isZero(a, 0, 15) && a[15] === 1) return 'loopback';
  // ::a.b.c.d (IPv4-compatible, deprecated by RFC 4291 §2.5.5.1): some stacks still route it as IPv4.
  if (isZero(a, 0, 12)) return v4Class(a.subarray(12)) ?? 'reserved';
  if (a[0] === 0xfe && (a[1]! & 0xc0) === 0x80) return 'link_local';
  if (a[0] === 0xfe && (a[1]! & 0xc0) === 0xc0) return 'reserved'; // site-local, deprecated (RFC 3879)
  if (a[0] === 0xff) return 'multicast';
  if (METADATA_V6.some((m) => m.equals(a))) return 'metadata';
  // NAT64 well-known prefix 64:ff9b::/96 (RFC 6052) and 6to4 2002::/16 (RFC 3056) carry an IPv4 address.
  if (a.readUInt32BE(0) === 0x0064ff9b && isZero(a, 4, 12)) return v4Class(a.subarray(12));
  if (a[0] === 0x20 && a[1] === 0x02) return v4Class(a.subarray(2, 6));
  return undefined;
}

/** The class that forbids connecting to `ip`, or undefined when the address may be a target. */
export function forbiddenClass(ip: IpAddress, opts: ForbiddenOptions = {}): ForbiddenClass | undefined {
  const cls = ip.family === 4 ? v4Class(ip.bytes) : v6Class(ip.bytes);
  // Only the real loopback ranges: an IPv6 form embedding 127.x stays forbidden even in test mode.
  if (cls === 'loopback' && opts.allowLoopback === true && isLoopback(ip)) return undefined;
  return cls;
}

/** Whether an address is an "any address" (0.0.0.0, ::) that a listener binds to mean every interface. */
export function isUnspecified(ip: IpAddress): boolean {
  return isZero(ip.bytes, 0, ip.bytes.length);
}

/** Whether an address is loopback (127.0.0.0/8, ::1), the range a wildcard listener also answers on. */
export function isLoopback(ip: IpAddress): boolean {
  return ip.family === 4 ? ip.bytes[0] === 127 : isZero(ip.bytes, 0, 15) && ip.bytes[15] === 1;
}
