/**
 * Issue 11, item 7, through the real `airlock` binary: after the server moved, `airlock config --server`
 * repoints the sign-in (and refuses to hand the token to a server with another CA); `airlock keys add`
 * explains a PuTTYgen .ppk and registers the SSH2 public key file PuTTYgen saves.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatPublicKey, publicKeyFromKeyObject } from '../../src/ssh/keys.ts';
import { freePort, run } from '../harness/processes.ts';
import { startSignedInCliWorld, type CliWorld } from './cli-fixture.ts';

let w: CliWorld;
const sessionFile = () => join(w.home, '.config', 'airlock', 'session.json');
const savedServer = () => (JSON.parse(readFileSync(sessionFile(), 'utf8')) as { server: string }).server;

before(async () => {
  w = await startSignedInCliWorld();
});

after(async () => {
  await w?.stop();
});

test('config --server: a moved server is reached with the same sign-in; the old address gets a hint', async () => {
  const real = w.gw.server.httpUrl;
  // The server "moved" away: the saved address no longer answers.
  const session = JSON.parse(readFileSync(sessionFile(), 'utf8')) as Record<string, string>;
  try {
    writeFileSync(sessionFile(), JSON.stringify({ ...session, server: `http://127.0.0.1:${await freePort()}` }));
    const stale = await w.cli(['config']);
    assert.notEqual(stale.code, 0);
    assert.match(stale.stderr, /Cannot reach the Airlock server .* If the Airlock server has moved, run airlock config --server NEW_URL\./);

    // Its new address (here: the same server under another name).
    const moved = real.replace('127.0.0.1', 'localhost');
    const r = await w.cli(['config', '--server', `${moved}/`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`Your sign-in now uses ${moved.replaceAll('.', '\\.')} \\(was http://127\\.0\\.0\\.1:\\d+\\)\\.`));
    assert.equal(savedServer(), moved);
    assert.match(r.stderr, /Wrote .*config: the gateway as "airlock-gateway" and 1 target\(s\): vm1\./);
    // Everything else now goes there.
    const hosts = await w.cli(['hosts', '--json']);
    assert.equal(hosts.code, 0, hosts.stderr);
  } finally {
    writeFileSync(sessionFile(), JSON.stringify({ ...session, server: real }));
  }
});

test('config --server: a server with another user CA never receives the sign-in token', async () => {
  const seen: IncomingHttpHeaders[] = [];
  const otherCa = formatPublicKey(publicKeyFromKeyObject(generateKeyPairSync('ed25519').privateKey));
  const imposter = createServer((req, res) => {
    seen.push(req.headers);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(req.url === '/api/v1/ca' ? { user_ca: otherCa, host_ca: otherCa } : { error: { code: 'not_found', message: 'no' } }));
  });
  await new Promise<void>((resolve) => imposter.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(imposter.address() as { port: number }).port}`;
    const before = savedServer();
    const r = await w.cli(['config', '--server', url]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`${url.replaceAll('.', '\\.')} is not the Airlock server that signed your certificate \\(its user CA differs\\), so your sign-in was not sent there`));
    assert.ok(seen.length > 0, 'the CA keys were fetched');
    assert.ok(seen.every((h) => h.authorization === undefined), 'no request carried the token');
    assert.equal(savedServer(), before);
  } finally {
    await new Promise<void>((resolve) => imposter.close(() => resolve()));
  }
});

test('keys add: a PuTTYgen .ppk is explained without a made-up file name; the public key PuTTYgen saves is registered', async () => {
  const ppk = join(w.home, 'pg.ppk');
  assert.equal((await run('puttygen', ['-t', 'ed25519', '-C', 'pg@windows', '-o', ppk, '-q', '--new-passphrase', '/dev/null'])).code, 0);
  const refused = await w.cli(['keys', 'add', ppk]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /is a PuTTY private key; nothing was sent\. Load it in PuTTYgen and copy the box "Public key for pasting into OpenSSH authorized_keys file"/);
  assert.doesNotMatch(refused.stderr, /pg\.ppk\.pub/);
  // "Save public key" in PuTTYgen: the SSH2 format (RFC 4716).
  const pub = join(w.home, 'pg.pub');
  assert.equal((await run('puttygen', [ppk, '-O', 'public', '-o', pub])).code, 0);
  const r = await w.cli(['keys', 'add', pub, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const [added] = JSON.parse(r.stdout) as { public_key: string; comment: string }[];
  assert.equal(added!.public_key, (await run('puttygen', [ppk, '-L'])).stdout.trim());
  assert.equal(added!.comment, 'pg@windows');
});
