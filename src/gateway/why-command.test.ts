import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import type { Target } from '../inventory/ports.ts';
import { dial } from './dialer.ts';
import { explainDial, parseWhyCommand, WHY_STATUS } from './why-command.ts';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const target = (over: Partial<Target> = {}): Target => ({
  id: 't1', name: 'job-5678', projectId: 'p', projectName: 'genomics', host: '10.0.0.5', port: 22, loginUser: null,
  services: [], allowedCidrs: [], expiresAt: null, createdAt: 0, ...over,
});

test('why TARGET PORT parses; brackets from ProxyJump are dropped; anything malformed gets the usage', () => {
  assert.equal(parseWhyCommand('hosts'), undefined);
  assert.equal(parseWhyCommand(undefined), undefined);
  assert.deepEqual(parseWhyCommand('why job-5678 22'), { host: 'job-5678', port: 22 });
  assert.deepEqual(parseWhyCommand(' why [2001:db8::1] 2222 '), { host: '2001:db8::1', port: 2222 });
  for (const bad of ['why', 'why job', 'why job 0', 'why job 65536', 'why job 22x', 'why job 22 extra', `why ${'a'.repeat(254)} 22`, 'why [] 22']) {
    assert.match((parseWhyCommand(bad) as { error: string }).error, /^Usage: why TARGET PORT/, bad);
  }
});

test('the answer is the policy\'s own reason: outside the CIDRs, expired, not a target', async () => {
  const req = (host: string) => ({ targets: [target({ allowedCidrs: ['10.9.0.0/16'] }), target({ id: 't2', name: 'old', host: '10.0.0.6', expiresAt: NOW - 1 })], host, port: 22, clientAddress: '127.0.0.2', ownListeners: [], localAddresses: [], now: NOW });
  const cidr = explainDial(await dial(req('job-5678'), { connectTimeoutMs: 1000 }), { host: 'job-5678', port: 22 });
  assert.deepEqual(cidr, { status: 1, err: 'Airlock gateway: Target job-5678 cannot be reached from your address 127.0.0.2.\n' });
  assert.match(explainDial(await dial(req('old'), { connectTimeoutMs: 1000 }), { host: 'old', port: 22 }).err, /Target old has expired/);
  assert.match(explainDial(await dial(req('gone'), { connectTimeoutMs: 1000 }), { host: 'gone', port: 22 }).err, /"gone" is not one of your targets/);
});

test('allowed but not answering: status 3 and the dialer\'s words; reachable: status 0', async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const open = (server.address() as AddressInfo).port;
  const closed = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  try {
    const req = (port: number) => ({ targets: [target({ host: '127.0.0.1', port, services: [] })], host: 'job-5678', port, clientAddress: '127.0.0.1', ownListeners: [], localAddresses: [], now: NOW, allowLoopback: true });
    const down = explainDial(await dial(req(closed), { connectTimeoutMs: 2000 }), { host: 'job-5678', port: closed });
    assert.deepEqual(down, { status: WHY_STATUS.unreachable, err: `Airlock gateway: job-5678 port ${closed}: connection refused (nothing listens on that port?).\n` });
    const result = await dial(req(open), { connectTimeoutMs: 2000 });
    if (result.ok) result.socket.destroy();
    assert.equal(explainDial(result, { host: 'job-5678', port: open }).status, WHY_STATUS.reachable);
  } finally {
    server.close();
  }
});
