/**
 * The gateway's direct data path (src/gateway/channel-relay.ts, fixed-read-buffer.ts) under the
 * conditions that exercise its borrowed-buffer rules: a target that stops reading (writes that do not
 * complete at once, data queued behind them, the window held back) and a client that sends many small
 * packets. The bytes that arrive must be exactly the bytes sent, and a target that reads nothing must
 * hold the client to what the channel window and the kernel's socket buffers allow — the gateway does
 * not take the rest into its own memory.
 */
import { test, before, after } from 'node:test';
import { smallPacketsArriveIntact, stalledTargetGetsEveryByte, startRelayWorld, type RelayWorld } from '../harness/relay-tunnel.ts';

let world: RelayWorld | undefined;

before(async () => {
  world = await startRelayWorld();
});

after(async () => {
  await world?.gw.stop();
});

test('a target that stops reading holds the client back, and then gets every byte intact', () => stalledTargetGetsEveryByte(world!));

test('many small packets arrive byte for byte', () => smallPacketsArriveIntact(world!));
