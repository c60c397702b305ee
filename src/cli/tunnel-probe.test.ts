import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { connectWhenListening } from './tunnel-probe.ts';

function listen(srv: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve());
  });
}

async function reservePort(): Promise<number> {
  const srv = createServer();
  await listen(srv, 0);
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

// ssh logs "Local forwarding listening" before listen(2): the first connection can be refused.
test('connectWhenListening retries a refused connection until the port listens', async () => {
  const port = await reservePort();
  const srv = createServer((s) => s.end());
  let refused = 0;
  try {
    const sock = await connectWhenListening(port, new AbortController().signal, {
      onRefused: () => {
        // The listener appears only after a refusal, as ssh's does.
        if (++refused === 1) void listen(srv, port);
      },
    });
    assert.ok(sock, 'connected once the port listens');
    assert.ok(refused >= 1);
    sock.destroy();
  } finally {
    await new Promise<void>((r) => srv.close(() => r()));
  }
});

test('connectWhenListening gives up when aborted', async () => {
  const port = await reservePort();
  const stop = new AbortController();
  let refused = 0;
  const sock = await connectWhenListening(port, stop.signal, { onRefused: () => { if (++refused === 3) stop.abort(); } });
  assert.equal(sock, null);
  assert.equal(refused, 3);
});
