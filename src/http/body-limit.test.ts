/**
 * The body limit answers as hono's `bodyLimit()` does for every way a body can arrive: a declared
 * Content-Length over or under the limit, a chunked body over or under it, no body, and requests that
 * do not come from @hono/node-server (app.request()). Real sockets, so that the Content-Length path and
 * the direct body read of @hono/node-server are the ones exercised.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit as honoBodyLimit } from 'hono/body-limit';
import { serve } from '@hono/node-server';
import { bodyLimit } from './body-limit.ts';

const LIMIT = 1000;

function appWith(limit: MiddlewareHandler): Hono {
  const app = new Hono();
  // Quietly, and the same for both: a body that is not JSON fails the handler.
  app.onError((err, c) => c.text(`error: ${err.message}`, 500));
  app.use('*', limit);
  app.post('/echo', async (c) => c.json({ length: (await c.req.text()).length }));
  app.post('/json', async (c) => c.json(await c.req.json()));
  app.post('/ignore', (c) => c.json({ ok: true }));
  app.get('/get', (c) => c.json({ ok: true }));
  return app;
}

const options = { maxSize: LIMIT, onError: () => new Response('too large', { status: 413 }) };

/** One raw HTTP/1.1 request: the body sent with a Content-Length, or chunked in two pieces. */
function send(port: number, method: string, path: string, body: string | null, chunked: boolean): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (body !== null && !chunked) headers['content-length'] = String(Buffer.byteLength(body));
    const req = request({ host: '127.0.0.1', port, path, method, agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    if (body !== null && chunked) {
      req.write(body.slice(0, body.length >> 1));
      req.end(body.slice(body.length >> 1));
    } else {
      req.end(body ?? undefined);
    }
  });
}

async function listen(app: Hono): Promise<{ port: number; close(): Promise<void> }> {
  const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

test('over a socket, every kind of body gets the same answer as from hono bodyLimit()', async () => {
  const ours = await listen(appWith(bodyLimit(options)));
  const hono = await listen(appWith(honoBodyLimit(options)));
  try {
    const small = JSON.stringify({ a: 'x'.repeat(100) });
    const exact = JSON.stringify({ a: 'x'.repeat(LIMIT - 8) });
    const big = JSON.stringify({ a: 'x'.repeat(LIMIT) });
    assert.equal(Buffer.byteLength(exact), LIMIT);
    const cases: [string, string, string | null, boolean][] = [];
    for (const path of ['/echo', '/json', '/ignore']) {
      for (const body of [small, exact, big, '', '{not json']) for (const chunked of [false, true]) cases.push(['POST', path, body, chunked]);
      cases.push(['POST', path, null, false]);
    }
    cases.push(['GET', '/get', null, false], ['DELETE', '/echo', small, false], ['PUT', '/nowhere', big, false], ['PATCH', '/nowhere', big, true]);
    for (const [method, path, body, chunked] of cases) {
      const expected = await send(hono.port, method, path, body, chunked);
      const got = await send(ours.port, method, path, body, chunked);
      const what = `${method} ${path} ${body === null ? 'no body' : `${Buffer.byteLength(body)} bytes`}${chunked ? ' chunked' : ''}`;
      assert.deepEqual(got, expected, what);
      if (body !== null && Buffer.byteLength(body) > LIMIT) assert.equal(got.status, 413, what);
    }
  } finally {
    await ours.close();
    await hono.close();
  }
});

test('without @hono/node-server (app.request) the limit still holds, also with a declared length', async () => {
  const app = appWith(bodyLimit(options));
  const big = 'x'.repeat(LIMIT + 1);
  assert.equal((await app.request('/echo', { method: 'POST', body: big })).status, 413);
  assert.equal((await app.request('/echo', { method: 'POST', body: big, headers: { 'content-length': String(big.length) } })).status, 413);
  const ok = await app.request('/echo', { method: 'POST', body: 'x'.repeat(LIMIT) });
  assert.deepEqual(await ok.json(), { length: LIMIT });
});

test('an error thrown by onError propagates to the app error handler, as with hono', async () => {
  const app = new Hono();
  app.onError((err, c) => c.text(`refused: ${err.message}`, 400));
  app.use('*', bodyLimit({ maxSize: 10, onError: () => { throw new Error('too big'); } }));
  app.post('/', async (c) => c.text(await c.req.text()));
  const s = await listen(app);
  try {
    assert.deepEqual(await send(s.port, 'POST', '/', 'x'.repeat(11), false), { status: 400, text: 'refused: too big' });
    assert.deepEqual(await send(s.port, 'POST', '/', 'x'.repeat(11), true), { status: 400, text: 'refused: too big' });
    assert.deepEqual(await send(s.port, 'POST', '/', 'x'.repeat(10), false), { status: 200, text: 'x'.repeat(10) });
  } finally {
    await s.close();
  }
});
