/**
 * A TCP sink for the tunnel benchmark, run as its own process so that its reads do not share the
 * benchmark's event loop: listens on 127.0.0.1 (port 0), prints `{"port":N}`, then one JSON line per
 * closed connection with the bytes received and the milliseconds from its first to its last byte.
 * Stops when its standard input closes.
 */
import { createServer } from 'node:net';

const server = createServer({ noDelay: true }, (socket) => {
  let bytes = 0;
  let first = 0;
  let last = 0;
  socket.on('data', (chunk: Buffer) => {
    if (bytes === 0) first = performance.now();
    bytes += chunk.length;
    last = performance.now();
  });
  socket.on('error', () => undefined);
  socket.once('close', () => {
    process.stdout.write(JSON.stringify({ bytes, ms: last - first, closedAt: performance.timeOrigin + performance.now() }) + '\n');
  });
  // The sender finishes with EOF; answer with ours so the tunnel closes the channel.
  socket.once('end', () => socket.end());
});
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(JSON.stringify({ port: typeof addr === 'object' && addr ? addr.port : 0 }) + '\n');
});
process.stdin.resume();
process.stdin.once('end', () => {
  server.close();
  process.exit(0);
});
