/**
 * A tunnel through the real gateway for tests of its data path (channel-relay.ts,
 * fixed-read-buffer.ts): a gateway where alice may reach loopback targets with a registered key, a
 * target that can stall, and the two checks that exercise the relay's borrowed-buffer rules — a
 * target that stops reading, and many small packets. gateway-relay.test.ts runs them as Node is;
 * gateway-relay-fallback.test.ts runs them with Node's user-buffer reads unavailable.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import ssh2 from 'ssh2';
import type { ClientChannel } from 'ssh2';
import { startTestGateway, type TestGateway, type UserKey } from './gateway.ts';

export interface RelayWorld {
  gw: TestGateway;
  alice: UserKey;
}

/** Starts a gateway where alice (project genomics) logs in with a registered plain key. */
export async function startRelayWorld(): Promise<RelayWorld> {
  // ssh2's client cannot sign for a certificate (it names the signature after the certificate type),
  // so alice logs in with a registered plain key; the data path after login is the same.
  const gw = await startTestGateway({ AIRLOCK_GATEWAY_ALLOW_LOOPBACK_TARGETS: '1', AIRLOCK_GATEWAY_PENALTIES: 'off', AIRLOCK_GATEWAY_AUTH: 'certificate,publickey' });
  const alice = await gw.user('alice');
  const id = (await gw.server.core.store.users.byName('alice'))!.id;
  await gw.server.core.keyRegistry.add({ id, name: 'alice' }, readFileSync(alice.pub, 'utf8').trim(), { name: 'test', clientAddress: null });
  await gw.project('genomics', ['alice']);
  return { gw, alice };
}

interface Session {
  client: ssh2.Client;
  /** The client's TCP socket (ssh2 keeps it as `_sock`): its bytesWritten is what went on the wire. */
  wire: Socket;
  channel: ClientChannel;
}

async function openTunnel({ gw, alice }: RelayWorld, target: string, port: number): Promise<Session> {
  const client = new ssh2.Client();
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve());
    client.once('error', reject);
    client.connect({ host: gw.host, port: gw.port, username: 'alice', privateKey: readFileSync(alice.key), hostVerifier: () => true, readyTimeout: 10_000 });
  });
  const channel = await new Promise<ClientChannel>((resolve, reject) => {
    client.forwardOut('127.0.0.1', 0, target, port, (err, ch) => (err ? reject(err) : resolve(ch)));
  });
  // Not in ssh2's typings: the client's socket, to count the bytes it sent.
  const wire = (client as unknown as { _sock: Socket })._sock;
  return { client, wire, channel };
}

interface Receiver {
  server: Server;
  port: number;
  /** Resolves with the byte count and SHA-256 of one connection's data once the peer ends it. */
  received: Promise<{ bytes: number; sha256: string }>;
  /** Starts reading (the server pauses each connection at first when `paused`). */
  resume(): void;
}

async function receiver(paused: boolean): Promise<Receiver> {
  let conn: Socket | undefined;
  let resolveReceived!: (r: { bytes: number; sha256: string }) => void;
  const received = new Promise<{ bytes: number; sha256: string }>((r) => (resolveReceived = r));
  const server = createServer((s) => {
    conn = s;
    s.on('error', () => {});
    if (paused) s.pause();
    const hash = createHash('sha256');
    let bytes = 0;
    s.on('data', (d: Buffer) => {
      bytes += d.length;
      hash.update(d);
    });
    s.once('end', () => {
      resolveReceived({ bytes, sha256: hash.digest('hex') });
      s.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, received, resume: () => conn?.resume() };
}

/** `p`, or a failure naming `what` after `ms` (a stalled relay must fail the test, not hang it). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing for ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Writes `chunks` into the channel, waiting for 'drain' when ssh2 asks to; ends it after the last. */
async function writeAll(channel: ClientChannel, chunks: Iterable<Buffer>): Promise<void> {
  for (const c of chunks) {
    if (!channel.write(c)) await new Promise<void>((r) => channel.once('drain', () => r()));
  }
  channel.end();
}

/** A target that stops reading holds the client back, and then gets every byte intact. */
export async function stalledTargetGetsEveryByte(world: RelayWorld): Promise<void> {
  const { gw } = world;
  const rx = await receiver(true);
  await gw.target({ name: 'slow', project: 'genomics', host: '127.0.0.1', port: rx.port });
  const s = await openTunnel(world, 'slow', rx.port);
  try {
    const total = 32 * 1024 * 1024;
    const data = randomBytes(total);
    const chunks = function* () {
      for (let i = 0; i < total; i += 64 * 1024) yield data.subarray(i, i + 64 * 1024);
    };
    const writing = writeAll(s.channel, chunks());
    // Let the client push as much as it is allowed while the target reads nothing.
    let sent = -1;
    for (let i = 0; i < 60; i++) {
      await new Promise((r) => setTimeout(r, 50));
      if (s.wire.bytesWritten === sent) break;
      sent = s.wire.bytesWritten;
    }
    // What can be in flight: the 2 MiB channel window, what the gateway has queued for the target
    // (up to the socket's 64 KiB high-water mark and one packet), and the kernel's loopback buffers
    // between gateway and target (send and receive, a few MiB each when autotuned). Without flow
    // control the client would have sent all 32 MiB into the gateway's memory.
    console.log(`# the client sent ${(sent / 1048576).toFixed(1)} MiB while the target read nothing`);
    assert.ok(sent > 1024 * 1024, `the client sent ${sent} bytes before the target stalled it`);
    assert.ok(sent < 20 * 1024 * 1024, `the client sent ${sent} of ${total} bytes while the target read nothing`);
    rx.resume();
    await within(writing, 30_000, 'sending 32 MiB');
    const got = await within(rx.received, 30_000, 'the target receiving them');
    assert.equal(got.bytes, total);
    assert.equal(got.sha256, createHash('sha256').update(data).digest('hex'));
  } finally {
    s.client.end();
    await new Promise<void>((r) => rx.server.close(() => r()));
  }
}

/** Many small packets arrive byte for byte. */
export async function smallPacketsArriveIntact(world: RelayWorld): Promise<void> {
  const { gw } = world;
  const rx = await receiver(false);
  await gw.target({ name: 'small', project: 'genomics', host: '127.0.0.1', port: rx.port });
  const s = await openTunnel(world, 'small', rx.port);
  try {
    const pieces: Buffer[] = [];
    for (let i = 0; i < 20_000; i++) pieces.push(randomBytes(1 + ((i * 7919) % 3000)));
    const expected = createHash('sha256');
    let total = 0;
    for (const p of pieces) {
      expected.update(p);
      total += p.length;
    }
    await within(writeAll(s.channel, pieces), 30_000, 'sending 20,000 small writes');
    const got = await within(rx.received, 30_000, 'the target receiving them');
    assert.equal(got.bytes, total);
    assert.equal(got.sha256, expected.digest('hex'));
  } finally {
    s.client.end();
    await new Promise<void>((r) => rx.server.close(() => r()));
  }
}
