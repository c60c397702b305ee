/**
 * The client address as every handler reads it: without trusted proxies the socket's peer, so
 * keep-alive requests and fresh connections from other addresses each get their own peer and a
 * forwarded header is never believed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Hono } from 'hono';
import { serve, type HttpBindings } from '@hono/node-server';
import { clientAddress, resolveClientAddressMiddleware } from './request.ts';
import { trustedProxies } from './forwarded.ts';

function ask(port: number, localAddress: string, agent: Agent | false): Promise<{ address: string; socket: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', localAddress, agent, headers: { 'x-forwarded-for': '203.0.113.9', forwarded: 'for=203.0.113.9' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve(JSON.parse(text) as { address: string; socket: string }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('without trusted proxies: the peer of each connection, kept across keep-alive requests, headers ignored', async () => {
  const app = new Hono<{ Bindings: Partial<HttpBindings> | undefined }>();
  app.use('*', resolveClientAddressMiddleware(trustedProxies([])));
  app.get('/', (c) => c.json({ address: clientAddress(c), socket: `${c.env?.incoming?.socket.remotePort}` }));
  const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 });
  const agents = [new Agent({ keepAlive: true, maxSockets: 1 }), new Agent({ keepAlive: true, maxSockets: 1 })];
  try {
    await new Promise<void>((resolve) => (server.listening ? resolve() : server.once('listening', () => resolve())));
    const port = (server.address() as AddressInfo).port;
    const first = [await ask(port, '127.0.0.2', agents[0]!), await ask(port, '127.0.0.2', agents[0]!)];
    assert.equal(first[0]!.socket, first[1]!.socket, 'both requests on one connection');
    assert.deepEqual(first.map((r) => r.address), ['127.0.0.2', '127.0.0.2']);
    const second = [await ask(port, '127.0.0.3', agents[1]!), await ask(port, '127.0.0.3', agents[1]!)];
    assert.deepEqual(second.map((r) => r.address), ['127.0.0.3', '127.0.0.3']);
    assert.equal((await ask(port, '127.0.0.4', false)).address, '127.0.0.4');
    assert.equal((await ask(port, '127.0.0.2', agents[0]!)).address, '127.0.0.2');
  } finally {
    for (const a of agents) a.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  // No socket at all (app.request): no address.
  assert.equal((await (await app.request('/')).json() as { address: unknown }).address, null);
});
