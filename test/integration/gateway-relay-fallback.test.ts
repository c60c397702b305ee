/**
 * The relay without Node's private read-into-a-user-buffer internals (fixed-read-buffer.ts): a Node
 * that moved or dropped them must leave the gateway working on ordinary reads, with the same flow
 * control and every byte intact. This file hides the TCP handle's `useUserBuffer` for its whole
 * process (node --test runs each file in its own), then runs the relay checks of gateway-relay.test.ts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { readIntoFixedBuffer } from '../../src/gateway/fixed-read-buffer.ts';
import { smallPacketsArriveIntact, stalledTargetGetsEveryByte, startRelayWorld, type RelayWorld } from '../harness/relay-tunnel.ts';

/** An accepted loopback socket (and its peer), to reach the TCP handle's prototype. */
async function socketPair(): Promise<{ accepted: Socket; client: Socket; close(): Promise<void> }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const acceptedP = new Promise<Socket>((r) => server.once('connection', r));
  const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
  const accepted = await acceptedP;
  return {
    accepted, client,
    close: async () => {
      client.destroy();
      accepted.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

let world: RelayWorld | undefined;
let restore: (() => void) | undefined;

before(async () => {
  const pair = await socketPair();
  // The handle's class is internal to Node: reach it through a live socket.
  const proto = Object.getPrototypeOf((pair.accepted as unknown as { _handle: object })._handle) as { useUserBuffer?: unknown };
  const original = proto.useUserBuffer;
  assert.equal(typeof original, 'function', 'this Node has the internals (fixed-read-buffer.test.ts checks it too)');
  proto.useUserBuffer = undefined;
  restore = () => {
    proto.useUserBuffer = original;
  };
  await pair.close();
  world = await startRelayWorld();
});

after(async () => {
  await world?.gw.stop();
  restore?.();
});

test('without the internals, readIntoFixedBuffer changes nothing and the socket reads as Node does', async () => {
  const pair = await socketPair();
  try {
    let chunks = 0;
    assert.equal(readIntoFixedBuffer(pair.accepted, () => chunks++), undefined);
    const got = new Promise<string>((r) => pair.accepted.once('data', (d: Buffer) => r(d.toString())));
    pair.client.write('ordinary read');
    assert.equal(await got, 'ordinary read');
    assert.equal(chunks, 0);
  } finally {
    await pair.close();
  }
});

test('without the internals, a target that stops reading holds the client back and then gets every byte', () => stalledTargetGetsEveryByte(world!));

test('without the internals, many small packets arrive byte for byte', () => smallPacketsArriveIntact(world!));
