import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { readProxyHeader, watchForProxyHeader, type ProxyRead } from './proxy-socket.ts';
import { V2_SIGNATURE } from './proxy-protocol.ts';

/** A loopback server whose first connection is handed to `onSocket`; the client writes `chunks` one by one. */
async function withConnection<T>(chunks: Buffer[], onSocket: (s: Socket) => Promise<T>, opts: { endAfter?: boolean } = {}): Promise<T> {
  let resolveSocket!: (s: Socket) => void;
  const accepted = new Promise<Socket>((r) => (resolveSocket = r));
  const server = createServer({ pauseOnConnect: false }, (s) => resolveSocket(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port });
  client.on('error', () => {});
  await new Promise<void>((r) => client.once('connect', () => r()));
  const s = await accepted;
  s.on('error', () => {});
  const result = onSocket(s);
  for (const c of chunks) {
    client.write(c);
    await new Promise((r) => setTimeout(r, 5));
  }
  if (opts.endAfter) client.end();
  try {
    return await result;
  } finally {
    client.destroy();
    s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

/** Everything the socket delivers after the header, until `n` bytes arrived. */
function readRest(s: Socket, n: number): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.length >= n) resolve(got);
    });
    s.resume();
  });
}

test('a header split over several segments is read; the bytes after it are delivered to the next reader', async () => {
  const banner = 'SSH-2.0-OpenSSH_9.2\r\n';
  const line = Buffer.from(`PROXY TCP4 192.0.2.7 198.51.100.1 51234 22\r\n${banner}`);
  const chunks = [line.subarray(0, 3), line.subarray(3, 20), line.subarray(20)];
  const [r, rest] = await withConnection(chunks, async (s) => {
    const header = await readProxyHeader(s, 2000);
    return [header, await readRest(s, banner.length)] as const;
  });
  assert.deepEqual(r, { kind: 'proxy', source: { address: '192.0.2.7', port: 51234 }, version: 1 });
  assert.equal(rest, banner);
});

test('v2 LOCAL, a missing header, a bad one, a timeout and a close before the header', async () => {
  const local = Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]);
  assert.deepEqual(await withConnection([local], (s) => readProxyHeader(s, 2000)), { kind: 'local', version: 2 });
  const missing = await withConnection([Buffer.from('SSH-2.0-x\r\n')], (s) => readProxyHeader(s, 2000));
  assert.equal(missing.kind === 'refused' && missing.reason, 'proxy_header_missing');
  const bad = await withConnection([Buffer.from('PROXY TCP4 999.0.0.1 1.2.3.4 1 2\r\n')], (s) => readProxyHeader(s, 2000));
  assert.equal(bad.kind === 'refused' && bad.reason, 'proxy_header_invalid');
  const slow: ProxyRead = await withConnection([Buffer.from('PROXY TCP4 ')], (s) => readProxyHeader(s, 200));
  assert.equal(slow.kind === 'refused' && slow.reason, 'proxy_header_timeout');
  const closed = await withConnection([Buffer.from('PROXY')], (s) => readProxyHeader(s, 5000), { endAfter: true });
  assert.equal(closed.kind === 'refused' && closed.reason, 'closed');
  // An endless v1 line is refused at 107 bytes, not buffered.
  const endless = await withConnection([Buffer.from(`PROXY TCP4 ${'1'.repeat(4000)}`)], (s) => readProxyHeader(s, 2000));
  assert.equal(endless.kind === 'refused' && endless.reason, 'proxy_header_invalid');
});

test('watchForProxyHeader: fires on either signature, even split, and never on an SSH banner', async () => {
  // The watcher runs before other readers of each chunk: once they have seen every byte, it has decided.
  const fired = (chunks: Buffer[]) => withConnection(chunks, (s) => new Promise<boolean>((resolve) => {
    let seen = false;
    watchForProxyHeader(s, () => (seen = true));
    const total = chunks.reduce((n, c) => n + c.length, 0);
    let got = 0;
    s.on('data', (d: Buffer) => {
      got += d.length;
      if (got >= total) resolve(seen);
    });
  }));
  assert.equal(await fired([Buffer.from('PRO'), Buffer.from('XY TCP4 1.2.3.4 5.6.7.8 1 2\r\n')]), true);
  assert.equal(await fired([V2_SIGNATURE]), true);
  assert.equal(await fired([Buffer.from('SSH-2.0-OpenSSH_9.2\r\n'), Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n')]), false, 'only the first bytes count');
});
