import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isAirlockError } from '../errors.ts';
import { checkServices, formatServiceSpec, parseServiceSpec } from './service-spec.ts';

const badRequest = (err: unknown) => isAirlockError(err, 'bad_request');

test('NAME=PORT[/path][?token=TOKEN]', () => {
  assert.deepEqual(parseServiceSpec('jupyter=8888/lab?token=abc'), { name: 'jupyter', port: 8888, path: '/lab', token: 'abc' });
  assert.deepEqual(parseServiceSpec('redis=6379'), { name: 'redis', port: 6379, path: null, token: null });
  assert.deepEqual(parseServiceSpec('web=80/'), { name: 'web', port: 80, path: '/', token: null });
  assert.deepEqual(parseServiceSpec('nb=8888?token=0123abcd'), { name: 'nb', port: 8888, path: null, token: '0123abcd' });
  assert.deepEqual(parseServiceSpec('rstudio=8787/a/b%20c/'), { name: 'rstudio', port: 8787, path: '/a/b%20c/', token: null });
});

test('malformed specs are refused with a message showing the form', () => {
  assert.throws(() => parseServiceSpec('jupyter'), (err) => badRequest(err) && /NAME=PORT/.test((err as Error).message));
  for (const bad of [
    '=8888', 'Jupyter=8888', 'jupyter=', 'jupyter=0', 'jupyter=65536', 'jupyter=08888', 'jupyter=88a',
    'jupyter=8888lab', 'jupyter=8888/lab?foo=1', 'jupyter=8888?token=', 'jupyter=8888?token=a b',
    'jupyter=8888?token=a&b', 'jupyter=8888/a b', 'jupyter=8888/%zz', 'jupyter=8888/a#b', 'a=b=1', `${'s'.repeat(33)}=1`,
    'jupyter=8888?token=abc?token=def',
  ]) {
    assert.throws(() => parseServiceSpec(bad), badRequest, bad);
  }
});

test('a service list may not name a service twice, nor hold more than 32', () => {
  const s = (name: string, port = 1) => ({ name, port, path: null, token: null });
  assert.doesNotThrow(() => checkServices([s('a'), s('b')]));
  assert.throws(() => checkServices([s('a'), s('a', 2)]), badRequest);
  assert.throws(() => checkServices(Array.from({ length: 33 }, (_, i) => s(`s${i}`))), badRequest);
});

test('format and parse are inverse for every valid service', () => {
  const name = fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,31}$/);
  const path = fc.option(fc.stringMatching(/^\/[A-Za-z0-9._~!$&'()*+,;=:@/-]{0,40}$/), { nil: null });
  const token = fc.option(fc.stringMatching(/^[A-Za-z0-9._~-]{1,64}$/), { nil: null });
  fc.assert(fc.property(name, fc.integer({ min: 1, max: 65535 }), path, token, (n, port, p, t) => {
    const service = { name: n, port, path: p, token: t };
    assert.deepEqual(parseServiceSpec(formatServiceSpec(service)), service);
  }));
});

test('no input crashes the parser: it parses or refuses with bad_request', () => {
  fc.assert(fc.property(fc.string({ maxLength: 80 }), (spec) => {
    try {
      const s = parseServiceSpec(spec);
      assert.equal(formatServiceSpec(s), spec);
    } catch (err) {
      assert.ok(badRequest(err), String(err));
    }
  }));
});
