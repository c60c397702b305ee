/**
 * The API reads at most 64 KiB of a request body, whether the client declares the length or sends it
 * chunked, and refuses more with the same 400 before any route (or sign-in check) runs; a body that is
 * not a JSON object is a 400 with a clear message, never a 500.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { startTestServer, type TestServer } from '../harness/in-process.ts';

function post(t: TestServer, path: string, body: string, chunked: boolean, headers: Record<string, string> = {}): Promise<{ status: number; json: { error?: { code: string; message: string } } }> {
  const url = new URL(path, t.url);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent: false, headers: { 'content-type': 'application/json', ...(chunked ? {} : { 'content-length': String(Buffer.byteLength(body)) }), ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error?: { code: string; message: string } } }));
      },
    );
    req.on('error', reject);
    if (chunked) {
      // Several chunks, so that the limit is crossed part-way through.
      for (let i = 0; i < body.length; i += 8192) req.write(body.slice(i, i + 8192));
      req.end();
    } else {
      req.end(body);
    }
  });
}

test('API bodies over 64 KiB are refused with one 400, declared or chunked, signed in or not', async () => {
  const t = await startTestServer();
  try {
    const big = JSON.stringify({ user: 'alice', password: 'x'.repeat(70_000), otp: '123456' });
    for (const chunked of [false, true]) {
      for (const path of ['/api/v1/login', '/api/v1/certificates']) {
        const r = await post(t, path, big, chunked, { authorization: 'Bearer not-a-token' });
        assert.equal(r.status, 400, `${path} chunked=${chunked}`);
        assert.deepEqual(r.json.error, { code: 'bad_request', message: 'The request body is larger than 65536 bytes.' });
      }
      // Just under the limit reaches the route (a wrong password, not a size error).
      const fits = JSON.stringify({ user: 'alice', password: 'x'.repeat(1000), otp: '123456' });
      assert.equal((await post(t, '/api/v1/login', fits, chunked)).status, 401, `chunked=${chunked}`);
      for (const [body, message] of [['{"user":', 'The request body must be JSON.'], ['', 'The request body must be JSON.'], ['[1,2]', 'The request body must be a JSON object.'], ['"text"', 'The request body must be a JSON object.']] as const) {
        const r = await post(t, '/api/v1/login', body, chunked);
        assert.equal(r.status, 400, `${JSON.stringify(body)} chunked=${chunked}`);
        assert.deepEqual(r.json.error, { code: 'bad_request', message });
      }
    }
  } finally {
    await t.stop();
  }
});
