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

// The packet writer of ssh2's Protocol object, as far as disconnectWithReason uses it.
interface PacketWriterInternals {
  _packetRW?: { write?: { allocStartKEX: number; alloc(len: number, force?: boolean): Buffer; finalize(packet: Buffer, force?: boolean): Buffer } };
}

/**
 * Sends SSH_MSG_DISCONNECT with `reason` and a description (RFC 4253 §11.1), which OpenSSH prints as
 * "Received disconnect from …: <description>"; ssh2's own disconnect() always sends an empty one.
 * Falls back to that (the client then sees only that it was disconnected) if the internals moved.
 */
export function disconnectWithReason(client: Connection, reason: number, description: string): void {
  const proto = (client as unknown as { _protocol?: PacketWriterInternals & { disconnect?: (r: number) => void } })._protocol;
  const text = Buffer.from(description.replace(/[^\x20-\x7e]/g, '?').slice(0, 200), 'latin1');
  try {
    const w = proto?._packetRW?.write;
    const { sendPacket } = require('ssh2/lib/protocol/utils.js') as { sendPacket?: (p: unknown, packet: Buffer, bypass?: boolean) => void };
    if (w === undefined || typeof sendPacket !== 'function') throw new Error('ssh2 internals not found');
    // byte DISCONNECT, uint32 reason, string description, string language tag (empty).
    const len = 1 + 4 + 4 + text.length + 4;
    let p = w.allocStartKEX;
    const packet = w.alloc(len, true);
    packet[p++] = 1;
    packet.writeUInt32BE(reason, p);
    packet.writeUInt32BE(text.length, p += 4);
    text.copy(packet, p += 4);
    packet.writeUInt32BE(0, p + text.length);
    sendPacket(proto, w.finalize(packet, true), true);
  } catch {
    try {
      proto?.disconnect?.(reason);
    } catch {
      // The connection is going away regardless.
    }
  }
}
