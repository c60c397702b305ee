/**
 * Key management without spending a certificate (issue 11 item 6): `airlock keys add` when not signed
 * in says exactly what to run; `airlock login --no-certificate` signs in, writes no key or certificate,
 * and the session registers a key, while the ledger (through the API and `airlock admin certs list`)
 * shows no certificate issued.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { airlock } from '../harness/airlock.ts';
import { startAirlockWithUser, type AirlockWithUser } from '../harness/airlock-with-user.ts';
import { run } from '../harness/processes.ts';
import { currentTotp } from '../../src/identity/totp.ts';

let world: AirlockWithUser;

before(async () => {
  world = await startAirlockWithUser({ prefix: 'airlock-it-keys-nocert-' });
});

after(async () => {
  await world?.stop();
});

test('keys add works after a sign-in that issued no certificate, and the ledger shows none', async () => {
  const keyFile = join(world.dir, 'id_ed25519');
  const gen = await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice@laptop', '-f', keyFile]);
  assert.equal(gen.code, 0, gen.stderr);

  const unsigned = await airlock(['keys', 'add', `${keyFile}.pub`], { env: world.env() });
  assert.notEqual(unsigned.code, 0);
  assert.match(unsigned.stderr, /You are not signed in; run airlock login --server URL --user NAME --no-certificate \(signs you in without issuing a certificate\)\./);

  const login = await airlock(['login', '--server', world.server.httpUrl, '--user', 'alice', '--no-certificate', '--password-stdin', '--otp', currentTotp(world.totpSecret, Date.now()), '--json'], { input: world.password + '\n', env: world.env() });
  assert.equal(login.code, 0, login.stderr);
  assert.equal((JSON.parse(login.stdout) as { certificate: unknown }).certificate, null);
  assert.match(login.stderr, /Signed in as alice until \S+; no certificate was issued \(none of your daily certificates used\)\./);
  assert.match(login.stderr, /airlock keys add ~\/\.ssh\/id_ed25519\.pub/);
  assert.equal(existsSync(join(world.home, '.ssh', 'airlock-key')), false, 'no key was generated');
  assert.equal(existsSync(join(world.home, '.ssh', 'airlock-key-cert.pub')), false, 'no certificate was written');

  const add = await airlock(['keys', 'add', `${keyFile}.pub`, '--json'], { env: world.env() });
  assert.equal(add.code, 0, add.stderr);
  assert.equal((JSON.parse(add.stdout) as { comment: string }[])[0]?.comment, 'alice@laptop');

  const mine = await airlock(['certs', 'list', '--json'], { env: world.env() });
  assert.equal(mine.code, 0, mine.stderr);
  assert.deepEqual(JSON.parse(mine.stdout), [], 'the researcher\'s ledger is empty');
  const ledger = await world.server.admin(['certs', 'list', '--user', 'alice', '--json']);
  assert.equal(ledger.code, 0, ledger.stderr);
  assert.deepEqual(JSON.parse(ledger.stdout), [], 'and so is the operator\'s');

  const both = await airlock(['login', '--server', world.server.httpUrl, '--user', 'alice', '--no-certificate', '--agent', '--password-stdin', '--otp', '000000'], { input: world.password + '\n', env: world.env() });
  assert.equal(both.code, 2);
  assert.match(both.stderr, /--no-certificate issues no certificate to add to ssh-agent; leave out --agent\./);
});
