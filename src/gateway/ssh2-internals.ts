/**
 * The few places where the gateway reaches into ssh2 (1.17) beyond its public API, kept in one file so
 * that an upgrade has one thing to re-check. None of them carries a security property: if ssh2 changes
 * and a hook cannot be installed, channels are still refused — only the refusal message and the audit
 * record of unknown channel types are lost, and `hooksAvailable` reports it (a test asserts it is true).
 *  - Channel-open failures: ssh2's `reject()` always sends an empty description and chooses the reason
 *    code itself; the gateway wants "administratively prohibited: <why>" so that users see why.
 *  - Unknown channel types (`tun@openssh.com`, `x11`, `auth-agent@openssh.com`, …) are refused by ssh2
 *    before any event; wrapping its CHANNEL_OPEN handler lets the gateway audit them.
 */
import { createRequire } from 'node:module';
import type { Connection, RejectConnection } from 'ssh2';

const require = createRequire(import.meta.url);

/** RFC 4254 §5.1 reason codes. */
export const OPEN_FAILURE = { prohibited: 1, connectFailed: 2, unknownType: 3, resourceShortage: 4 } as const;
export type OpenFailureReason = (typeof OPEN_FAILURE)[keyof typeof OPEN_FAILURE];

const KNOWN_CHANNEL_TYPES = new Set(['session', 'direct-tcpip', 'direct-streamlocal@openssh.com']);

// ssh2's Protocol object, as far as the hooks use it. Not part of ssh2's typings.
interface ProtocolInternals {
  channelOpenFail?: (recipient: number, reason: number, description: string) => void;
  _handlers?: { CHANNEL_OPEN?: (p: unknown, info: { type: string }) => unknown };
}

export interface ConnectionHooks {
  /** Whether both hooks are installed. */
  readonly hooksAvailable: boolean;
  /** Calls ssh2's reject() so that the failure carries `reason` and `description`. */
  rejectWith(reject: RejectConnection, reason: OpenFailureReason, description: string): void;
}

/** Installs the hooks on one connection; `onUnknownChannel` hears of channel types ssh2 refuses by itself. */
export function hookConnection(client: Connection, onUnknownChannel: (type: string) => void): ConnectionHooks {
  const proto = (client as unknown as { _protocol?: ProtocolInternals })._protocol;
  let pending: { reason: number; description: string } | undefined;
  let failHooked = false;
  let openHooked = false;
  if (proto && typeof proto.channelOpenFail === 'function') {
    const original = proto.channelOpenFail;
    proto.channelOpenFail = function (this: ProtocolInternals, recipient, reason, description) {
      const p = pending;
      pending = undefined;
      return original.call(this, recipient, p?.reason ?? reason, p?.description ?? description);
    };
    failHooked = true;
  }
  const handlers = proto?._handlers;
  if (handlers && typeof handlers.CHANNEL_OPEN === 'function') {
    const original = handlers.CHANNEL_OPEN;
    handlers.CHANNEL_OPEN = (p, info) => {
      if (info && typeof info.type === 'string' && !KNOWN_CHANNEL_TYPES.has(info.type)) onUnknownChannel(info.type);
      return original(p, info);
    };
    openHooked = true;
  }
  return {
    hooksAvailable: failHooked && openHooked,
    rejectWith(reject, reason, description) {
      // SSH strings in messages are shown by clients on a terminal: printable ASCII only, bounded.
      pending = { reason, description: description.replace(/[^\x20-\x7e]/g, '?').slice(0, 200) };
      try {
        reject();
      } finally {
        pending = undefined;
      }
    },
  };
}

/** Whether ssh2's native crypto addon (chacha20-poly1305, AES-GCM) is loaded; without it chacha costs 2.3× the CPU. */
export function nativeCryptoLoaded(): boolean {
  try {
    return (require('ssh2/lib/protocol/crypto.js') as { bindingAvailable?: boolean }).bindingAvailable === true;
  } catch {
    return false;
  }
}

/**
 * Sends SSH_MSG_USERAUTH_BANNER (RFC 4252 §5.4) during authentication. ssh2 sends a banner only once,
 * with its SERVICE_ACCEPT; the gateway needs one later, after a signature proved who is asking (a
 * revoked certificate's holder learns why the login fails). OpenSSH prints it on stderr at LogLevel
 * INFO and above. Returns false when ssh2's internals are not as expected (nothing is sent then).
 */
export function sendAuthBanner(client: Connection, text: string): boolean {
  interface Writer { allocStart: number; alloc(n: number): Buffer; finalize(packet: Buffer): Buffer }
  const proto = (client as unknown as { _protocol?: { _packetRW?: { write?: Writer } } })._protocol;
  const writer = proto?._packetRW?.write;
  let send: ((p: unknown, packet: Buffer) => void) | undefined;
  try {
    send = (require('ssh2/lib/protocol/utils.js') as { sendPacket?: (p: unknown, packet: Buffer) => void }).sendPacket;
  } catch {
    send = undefined;
  }
  if (proto === undefined || writer === undefined || typeof writer.alloc !== 'function' || typeof send !== 'function') return false;
  // Shown on a terminal: printable ASCII and newlines only, bounded.
  const body = Buffer.from(text.replace(/[^\x20-\x7e\n]/g, '?').slice(0, 1000), 'utf8');
  const start = writer.allocStart;
  const packet = writer.alloc(1 + 4 + body.length + 4);
  packet[start] = 53; // SSH_MSG_USERAUTH_BANNER
  packet.writeUInt32BE(body.length, start + 1);
  body.copy(packet, start + 5);
  packet.writeUInt32BE(0, start + 5 + body.length); // empty language tag
  send(proto, writer.finalize(packet));
  return true;
}
