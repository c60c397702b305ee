/**
 * Load generator for the idle-connection benchmark, run as a separate process (several of them, to
 * stay under per-process descriptor limits and keep client memory out of the measured process). Opens
 * `count` SSH connections with ssh2's client, each authenticated with an OpenSSH user certificate, in
 * bounded concurrency and
 * round-robin over loopback source addresses, so that the server's limits on unauthenticated
 * connections (per address and in total) are respected. Then it holds them idle.
 *
 * Configuration comes as one JSON argument (see IdleClientConfig). Output: JSON lines
 * `{"progress":n}`, then `{"done":ok,"failed":n,"errors":[...]}`. Closing standard input ends every
 * connection and exits.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import ssh2 from 'ssh2';
import type { ParsedKey } from 'ssh2';

export interface IdleClientConfig {
  host: string;
  port: number;
  username: string;
  keyPath: string;
  certPath: string;
  count: number;
  concurrency: number;
  /** Local addresses to connect from, used in turn. */
  sourceAddresses: string[];
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as IdleClientConfig;
const [certType, certB64] = readFileSync(cfg.certPath, 'utf8').trim().split(' ');
const certBlob = Buffer.from(certB64!, 'base64');
const signer = ssh2.utils.parseKey(readFileSync(cfg.keyPath)) as ParsedKey;
if (certType !== 'ssh-ed25519-cert-v01@openssh.com' || signer.type !== 'ssh-ed25519') throw new Error('the load generator handles Ed25519 certificates only');
// A key object that offers the certificate and signs with the certificate's key.
const certKey = Object.create(signer) as ParsedKey;
Object.defineProperty(certKey, 'type', { value: certType });
Object.defineProperty(certKey, 'getPublicSSH', { value: () => certBlob });

// ssh2's client has no certificate support: it would label the signature with the certificate's
// algorithm name, where RFC 4252 and PROTOCOL.certkeys want the plain key's ("ssh-ed25519"). So the
// user-auth request for this one key is written here, byte for byte as OpenSSH writes it; every other
// request goes to ssh2's own code. (Benchmark only: ssh2's internals, version 1.17.)
interface ProtocolInternals {
  _kex: { sessionID: Buffer };
  _authsQueue: string[];
  _packetRW: { write: { allocStart: number; alloc: (n: number) => Buffer; finalize: (b: Buffer) => Buffer } };
  authPK: (this: ProtocolInternals, username: string, key: unknown, keyAlgo: unknown, cbSign?: unknown) => void;
}
const require = createRequire(import.meta.url);
const Protocol = require('ssh2/lib/protocol/Protocol.js') as { prototype: ProtocolInternals };
const { sendPacket } = require('ssh2/lib/protocol/utils.js') as { sendPacket: (proto: ProtocolInternals, packet: Buffer) => void };
const sshString = (b: Buffer | string): Buffer => {
  const v = typeof b === 'string' ? Buffer.from(b) : b;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(v.length);
  return Buffer.concat([len, v]);
};
const USERAUTH_REQUEST = 50;
const originalAuthPK = Protocol.prototype.authPK;
Protocol.prototype.authPK = function (this: ProtocolInternals, username: string, key: unknown, keyAlgo: unknown, cbSign?: unknown): void {
  if (key !== certKey) {
    originalAuthPK.call(this, username, key, keyAlgo, cbSign);
    return;
  }
  const sign = (typeof keyAlgo === 'function' ? keyAlgo : cbSign) as ((data: Buffer, cb: (sig: Buffer) => void) => void) | undefined;
  const request = (signed: boolean) => Buffer.concat([Buffer.from([USERAUTH_REQUEST]), sshString(username), sshString('ssh-connection'), sshString('publickey'), Buffer.from([signed ? 1 : 0]), sshString(certType), sshString(certBlob)]);
  const send = (payload: Buffer) => {
    const w = this._packetRW.write;
    const packet = w.alloc(payload.length);
    packet.set(payload, w.allocStart);
    this._authsQueue.push('publickey');
    sendPacket(this, w.finalize(packet));
  };
  if (sign === undefined) {
    send(request(false));
    return;
  }
  const body = request(true);
  sign(Buffer.concat([sshString(this._kex.sessionID), body]), (signature) => {
    send(Buffer.concat([body, sshString(Buffer.concat([sshString('ssh-ed25519'), sshString(signature)]))]));
  });
};

const authMethod: ssh2.PublicKeyAuthMethod = { type: 'publickey', username: cfg.username, key: certKey };

const clients: InstanceType<typeof ssh2.Client>[] = [];
const errors: string[] = [];
let failed = 0;
let next = 0;

function connectOne(i: number): Promise<void> {
  return new Promise((resolve) => {
    const c = new ssh2.Client();
    let settled = false;
    const settle = (err?: Error) => {
      if (settled) return;
      settled = true;
      if (err) {
        failed++;
        if (errors.length < 5) errors.push(err.message);
        c.end();
      } else {
        clients.push(c);
      }
      resolve();
    };
    c.on('ready', () => settle());
    c.on('error', (err) => settle(err));
    c.on('close', () => settle(new Error('closed before ready')));
    c.connect({
      host: cfg.host, port: cfg.port, localAddress: cfg.sourceAddresses[i % cfg.sourceAddresses.length],
      username: cfg.username, authHandler: [authMethod],
      hostVerifier: () => true, readyTimeout: 60_000, keepaliveInterval: 0,
    });
  });
}

const workers = Array.from({ length: Math.max(1, cfg.concurrency) }, async () => {
  while (next < cfg.count) {
    const i = next++;
    await connectOne(i);
    const n = clients.length + failed;
    if (n % 250 === 0) process.stdout.write(JSON.stringify({ progress: n }) + '\n');
  }
});
await Promise.all(workers);
process.stdout.write(JSON.stringify({ done: clients.length, failed, errors }) + '\n');

process.stdin.resume();
process.stdin.once('end', () => {
  for (const c of clients) c.end();
  // Give the ends a moment to reach the wire, then go.
  setTimeout(() => process.exit(0), 500);
});
