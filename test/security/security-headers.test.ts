/**
 * Every response carries the same security headers as with hono's `secureHeaders()` middleware, now
 * that `airlock serve`'s listener writes them (src/http/listener.ts). The reference is the same app
 * served by a plain @hono/node-server `serve()`, where `securityHeaders()` runs hono's middleware
 * itself, i.e. what `airlock serve` sent before. Both answer the same requests, one kind of route
 * each: API JSON, a header set by the route, binary, an error, the body limit, 404, /metrics, a web
 * page with its CSP and cookie, a redirect, an asset and its 304, HEAD. The header sets must be
 * equal (names compared case-insensitively, as HTTP does; Date, random cookie values and the length
 * of the growing metrics text aside).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import { SECURITY_HEADERS, securityHeaders, serveHttp } from '../../src/http/listener.ts';
import { startTestServer } from '../harness/in-process.ts';

interface Answer {
  status: number;
  headers: string[];
}

/** One request over a fresh connection; the raw header lines, normalised for comparison. */
function get(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, agent: false, headers }, (res) => {
      res.resume();
      res.on('end', () => {
        const lines: string[] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) {
          const name = res.rawHeaders[i]!.toLowerCase();
          let value = res.rawHeaders[i + 1]!;
          if (name === 'date') continue;
          // A fresh random token in each answer: compare the cookie's name and attributes.
          if (name === 'set-cookie') value = value.replace(/=[^;]*/, '=<random>');
          // The metrics text grows with every request counted.
          if (name === 'content-length' && path === '/metrics') value = '<n>';
          lines.push(`${name}: ${value}`);
        }
        resolve({ status: res.statusCode ?? 0, headers: lines.sort() });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('the listener sends exactly the security headers hono secureHeaders() sent, on every kind of route', async () => {
  const t = await startTestServer();
  const reference = serve({ fetch: t.server.httpApp.fetch, hostname: '127.0.0.1', port: 0 });
  try {
    await new Promise<void>((resolve) => reference.once('listening', () => resolve()));
    const ours = Number(new URL(t.url).port);
    const theirs = (reference.address() as AddressInfo).port;
    const css = await fetch(`${t.url}/assets/portal.css`);
    const etag = css.headers.get('etag')!;
    await css.arrayBuffer();
    const json = { 'content-type': 'application/json' };
    const requests: [string, string, Record<string, string>?, string?][] = [
      ['GET', '/healthz'],
      ['HEAD', '/healthz'],
      ['GET', '/readyz'],
      ['GET', '/api/v1/ca'],
      ['GET', '/api/v1/krl'],
      ['GET', '/api/v1/me'],
      ['POST', '/api/v1/login', json, JSON.stringify({ user: 'nobody', password: 'wrong', otp: '123456' })],
      ['POST', '/api/v1/login', json, '{not json'],
      ['POST', '/api/v1/certificates', json, JSON.stringify({ public_key: 'x'.repeat(70_000) })],
      ['GET', '/no/such/page'],
      ['GET', '/metrics'],
      ['GET', '/login'],
      ['GET', '/'],
      ['GET', '/assets/portal.css'],
      ['GET', '/assets/portal.js'],
      ['GET', '/assets/portal.css', { 'if-none-match': etag }],
    ];
    const statuses = new Set<number>();
    for (const [method, path, headers, body] of requests) {
      const expected = await get(theirs, method, path, headers, body);
      const got = await get(ours, method, path, headers, body);
      assert.deepEqual(got, expected, `${method} ${path}`);
      for (const [name, value] of SECURITY_HEADERS) assert.ok(got.headers.includes(`${name}: ${value}`), `${method} ${path}: ${name}`);
      statuses.add(got.status);
    }
    // The list covered successes, redirects, 304, client errors and 404.
    for (const s of [200, 303, 304, 400, 401, 404]) assert.ok(statuses.has(s), `a ${s} was compared (${[...statuses].join(', ')})`);
  } finally {
    await new Promise<void>((resolve) => reference.close(() => resolve()));
    await t.stop();
  }
});

test('a route cannot weaken a security header, and X-Powered-By is removed, as with secureHeaders()', async () => {
  const app = new Hono();
  app.use('*', securityHeaders());
  app.get('/weak', (c) => c.text('x', 200, { 'X-Frame-Options': 'ALLOWALL', 'referrer-policy': 'unsafe-url', 'X-Powered-By': 'me' }));
  app.get('/headers', (c) => {
    c.header('Strict-Transport-Security', 'max-age=0');
    c.header('X-Powered-By', 'me');
    return c.json({ ok: true });
  });
  const plain = new Hono();
  plain.use('*', secureHeaders());
  plain.route('/', app);
  const ours = serveHttp(app.fetch, { hostname: '127.0.0.1', port: 0 });
  const theirs = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 });
  try {
    await Promise.all([ours, theirs].map((s) => new Promise<void>((resolve) => (s.listening ? resolve() : s.once('listening', () => resolve())))));
    for (const path of ['/weak', '/headers', '/missing']) {
      const got = await get((ours.address() as AddressInfo).port, 'GET', path);
      const expected = await get((theirs.address() as AddressInfo).port, 'GET', path);
      assert.deepEqual(got, expected, path);
      assert.ok(got.headers.includes('x-frame-options: SAMEORIGIN'), path);
      assert.ok(got.headers.includes('strict-transport-security: max-age=15552000; includeSubDomains'), path);
      assert.ok(!got.headers.some((h) => h.startsWith('x-powered-by:')), path);
    }
    // In-process (app.request), hono's middleware itself applies.
    const inProcess = await app.request('/weak');
    assert.equal(inProcess.headers.get('x-frame-options'), 'SAMEORIGIN');
    assert.equal(inProcess.headers.get('x-powered-by'), null);
  } finally {
    await Promise.all([ours, theirs].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
});
