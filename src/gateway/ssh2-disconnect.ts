/**
 * Ending an SSH connection with a reason the user can read. ssh2's `end()` sends SSH_MSG_DISCONNECT
 * with an empty description; RFC 4253 §11.1 lets the server say why, and OpenSSH's client prints it
 * ("Received disconnect from HOST port PORT:11: <description>"), also for the jump hop of `ssh -J`.
 * Like ssh2-internals.ts this reaches into ssh2 (1.17) and carries no security property: without the
 * internals the connection is still ended, only without the text.
 */
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { Connection } from 'ssh2';

const require = createRequire(import.meta.url);

/** RFC 4253 §11.1 reason codes the gateway sends. */
export const DISCONNECT = { byApplication: 11, tooManyConnections: 12 } as const;
const MSG_DISCONNECT = 1;
/** After the DISCONNECT, a client that does not close is cut off after this long. */
const CLOSE_GRACE_MS = 2_000;

interface PacketWriter {
  allocStartKEX: number;
  alloc(length: number, force?: boolean): Buffer;
  finalize(packet: Buffer, force?: boolean): Buffer;
}
interface ProtocolInternals {
  _packetRW?: { write?: PacketWriter };
}

type SendPacket = (proto: unknown, packet: Buffer, bypass?: boolean) => void;
let sendPacket: SendPacket | null | undefined;
function sender(): SendPacket | null {
  if (sendPacket === undefined) {
    try {
      const fn = (require('ssh2/lib/protocol/utils.js') as { sendPacket?: unknown }).sendPacket;
      sendPacket = typeof fn === 'function' ? (fn as SendPacket) : null;
    } catch {
      sendPacket = null;
    }
  }
  return sendPacket;
}

/** The description as it goes on the wire: printable ASCII only (it is shown on a terminal), bounded. */
export function disconnectText(message: string): string {
  return message.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
}

/**
 * Sends SSH_MSG_DISCONNECT with `message` (and `reason`, by default "by application") and closes the
 * socket; the socket is destroyed if the client lingers.
 */
export function disconnectWithMessage(client: Connection | null, socket: Socket, message: string, reason: number = DISCONNECT.byApplication): void {
  if (socket.destroyed) return;
  const proto = (client as unknown as { _protocol?: ProtocolInternals } | null)?._protocol;
  const writer = proto?._packetRW?.write;
  const send = sender();
  let sent = false;
  if (proto && writer && send && socket.writable) {
    try {
      const text = Buffer.from(disconnectText(message), 'ascii');
      // Built as ssh2's own disconnect() builds it (a packet that may be sent even during a key exchange).
      const start = writer.allocStartKEX;
      const packet = writer.alloc(1 + 4 + 4 + text.length + 4, true);
      let p = start;
      packet[p++] = MSG_DISCONNECT;
      packet.writeUInt32BE(reason, p);
      p += 4;
      packet.writeUInt32BE(text.length, p);
      p += 4;
      text.copy(packet, p);
      p += text.length;
      packet.writeUInt32BE(0, p); // language tag: empty
      send(proto, writer.finalize(packet, true), true);
      sent = true;
    } catch {
      sent = false;
    }
  }
  if (!sent) client?.end();
  socket.end();
  const timer = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}
