import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type AddressInfo } from 'node:net';
import type { Target } from '../inventory/ports.ts';
import type { ForwardRequest } from '../policy/forward.ts';
import { dial } from './dialer.ts';

let server: Server;
let port: number;
const seen: string[] = [];

before(async () => {
  server = createServer((s) => {
    s.on('error', () => {});
    seen.push(s.localAddress ?? '');
    s.end('hello');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

after(() => new Promise<void>((r) => server.close(() => r())));

const target = (host: string): Target => ({
  id: 't', name: 'vm1', projectId: 'p', projectName: 'genomics', host, port, loginUser: null, services: [], allowedCidrs: [], expiresAt: null, createdAt: 0,
});

const req = (host: string, over: Partial<ForwardRequest> = {}): ForwardRequest => ({
  targets: [target(host)], host: 'vm1', port, clientAddress: '192.0.2.1', ownListeners: [], now: Date.now(), allowLoopback: true, ...over,
});

test('a DNS-named target is resolved exactly once and the connection goes to the address that was checked', async () => {
  const calls: string[] = [];
  // A rebinding resolver: harmless the first time, the gateway's own loopback the next.
  const resolve = async (name: string) => {
    calls.push(name);
    return calls.length === 1 ? ['127.0.0.1'] : ['169.254.169.254'];
  };
  const r = await dial(req('vm1.cloud.example.org'), { resolve, connectTimeoutMs: 2000 });
  assert.equal(r.ok, true);
  assert.deepEqual(calls, ['vm1.cloud.example.org']);
  if (r.ok) {
    assert.equal(r.socket.remoteAddress, '127.0.0.1');
    assert.equal(r.address, '127.0.0.1');
    r.socket.destroy();
  }
});

test('a name resolving to any forbidden address is refused before connecting; resolver failures deny', async () => {
  const before = seen.length;
  const r = await dial(req('vm1.cloud.example.org', { allowLoopback: false }), { resolve: async () => ['10.0.0.1', '127.0.0.1'], connectTimeoutMs: 2000 });
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.stage === 'policy' && r.decision.reason, 'forbidden_address');
  const failing = await dial(req('vm1.cloud.example.org'), { resolve: () => Promise.reject(new Error('SERVFAIL')), connectTimeoutMs: 2000 });
  assert.equal(!failing.ok && failing.stage === 'connect' && failing.reason, 'unresolvable');
  const slow = await dial(req('vm1.cloud.example.org'), { resolve: () => new Promise(() => {}), connectTimeoutMs: 200 });
  assert.equal(!slow.ok && slow.stage === 'connect' && slow.reason, 'unresolvable');
  assert.equal(seen.length, before, 'nothing was connected to');
});

test('connection refused is reported as such, with the target named', async () => {
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const deadPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const r = await dial(req('127.0.0.1', { port: deadPort, targets: [{ ...target('127.0.0.1'), port: deadPort }] }), { connectTimeoutMs: 2000 });
  assert.equal(!r.ok && r.stage === 'connect' && r.reason, 'connect_failed');
  assert.match(!r.ok && r.stage === 'connect' ? r.message : '', /vm1 port \d+: connection refused/);
});
