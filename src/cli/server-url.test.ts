import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isAirlockError } from '../errors.ts';
import { checkSignInServer, isLoopbackHost } from './server-url.ts';

test('plain http only to this machine, unless --insecure-http; https anywhere', () => {
  assert.equal(checkSignInServer('https://airlock.example.org/'), 'https://airlock.example.org');
  for (const local of ['http://127.0.0.1:8080', 'http://127.9.8.7', 'http://localhost:8080/', 'http://[::1]:8080', 'http://app.localhost']) {
    assert.equal(checkSignInServer(local), local.replace(/\/+$/, ''), local);
  }
  for (const remote of ['http://airlock.example.org', 'http://192.0.2.10:8080', 'http://[2001:db8::1]', 'http://localhost.example.org', 'http://0x7f000001.example']) {
    assert.throws(() => checkSignInServer(remote), (e) => isAirlockError(e, 'bad_request') && /Refusing to send your password and session over plain http to .*--insecure-http/.test(e.message), remote);
    assert.equal(checkSignInServer(remote, { insecureHttp: true }), remote);
  }
  for (const bad of ['ftp://x', 'airlock.example.org', '']) assert.throws(() => checkSignInServer(bad), (e) => isAirlockError(e, 'bad_request'), bad);
  assert.equal(isLoopbackHost('[::ffff:127.0.0.1]'), true);
});
