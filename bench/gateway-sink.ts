/**
 * A TCP sink for the tunnel benchmark, run as its own process so that its reads do not share the
 * benchmark's event loop: listens on 127.0.0.1 (port 0), prints `{"port":N,"bannerPort":M}`, then one
 * JSON line per closed connection with the bytes received and the milliseconds from its first to its
 * last byte. The banner port answers every connection at once with an SSH identification line: the
 * set-up benchmark's endpoint for timing a jump hop without a target sshd's own start-up in it.
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
const banner = createServer({ noDelay: true }, (socket) => {
  socket.on('error', () => undefined);
  socket.end('SSH-2.0-BenchBanner\r\n');
});
const portOf = (s: typeof server): number => {
  const addr = s.address();
  return typeof addr === 'object' && addr ? addr.port : 0;
};
server.listen(0, '127.0.0.1', () => {
  banner.listen(0, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ port: portOf(server), bannerPort: portOf(banner) }) + '\n');
  });
});
process.stdin.resume();
process.stdin.once('end', () => {
  server.close();
  banner.close();
  process.exit(0);
});
