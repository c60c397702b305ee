/**
 * Certificate login for ssh2's Client, which cannot do it by itself: ssh2 names the signature after the
 * key algorithm it offers, so a certificate (`ssh-ed25519-cert-v01@openssh.com`) would be signed as
 * `ssh-…-cert-v01@openssh.com`, and sshd refuses that (PROTOCOL.certkeys: the signature carries the
 * plain key's algorithm, `ssh-ed25519`; sshkey_verify checks it). This replaces the `authPK` method of
 * one client's protocol object, so that its publickey request offers the certificate and signs with the
 * plain Ed25519 algorithm. The request is sent signed at once (RFC 4252 §7 allows skipping the query),
 * which saves a round trip. Reaches into ssh2 1.17 internals, like ssh2-internals.ts.
 */
import { sign, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Client } from 'ssh2';

const require = createRequire(import.meta.url);
const { sendPacket } = require('ssh2/lib/protocol/utils.js') as { sendPacket: (proto: unknown, packet: Buffer) => boolean };

const USERAUTH_REQUEST = 50;

// ssh2's Protocol object, as far as this file uses it. Not part of ssh2's typings.
interface ProtocolInternals {
  authPK?: (...args: unknown[]) => void;
  _kex: { sessionID: Buffer };
  _authsQueue: string[];
  _packetRW: { write: { allocStart: number; alloc(len: number): Buffer; finalize(packet: Buffer): Buffer } };
}

function sshString(v: Buffer | string): Buffer {
  const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
  const out = Buffer.allocUnsafe(4 + b.length);
  out.writeUInt32BE(b.length, 0);
  b.copy(out, 4);
  return out;
}

/**
 * Makes `client` log in with an Ed25519 certificate (`certBlob`, its private key `privateKey`) whenever
 * it tries publickey authentication. Call before `connect()`; pass any Ed25519 key in ssh2's connect
 * options so that it tries publickey at all. Throws if ssh2's internals are not what this expects.
 */
export function useCertificateForPublickey(client: Client, certBlob: Buffer, privateKey: KeyObject): void {
  const install = (): void => {
    const proto = (client as unknown as { _protocol?: ProtocolInternals })._protocol;
    if (proto === undefined || typeof proto.authPK !== 'function') throw new Error('ssh2 client internals changed: no authPK');
    proto.authPK = (username: unknown) => {
      const head = Buffer.concat([
        Buffer.from([USERAUTH_REQUEST]), sshString(String(username)), sshString('ssh-connection'), sshString('publickey'),
        Buffer.from([1]), sshString(CERT_ALGORITHM), sshString(certBlob),
      ]);
      // RFC 4252 §7: the signature covers the session identifier followed by the request.
      const signature = sign(null, Buffer.concat([sshString(proto._kex.sessionID), head]), privateKey);
      const sigBlob = sshString(Buffer.concat([sshString('ssh-ed25519'), sshString(signature)]));
      const rw = proto._packetRW.write;
      const packet = rw.alloc(head.length + sigBlob.length);
      head.copy(packet, rw.allocStart);
      sigBlob.copy(packet, rw.allocStart + head.length);
      proto._authsQueue.push('publickey');
      sendPacket(proto, rw.finalize(packet));
    };
  };
  // ssh2 creates the protocol object inside connect(); 'connect' is emitted once the socket is up,
  // before any authentication packet can be sent.
  client.once('connect', install);
}

/** The certificate key algorithm this module signs for. */
export const CERT_ALGORITHM = 'ssh-ed25519-cert-v01@openssh.com';
