/**
 * The inventory through the real `airlock` executable against a running `airlock serve`: the operator
 * registers projects, members and targets with `airlock admin`, an orchestrator uses a scoped token
 * over HTTP, and a researcher manages keys with `airlock keys` through their saved session.
 */
import { performance } from 'node:perf_hooks';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { airlock } from '../harness/airlock.ts';
import { startAirlockWithUser, type AirlockWithUser } from '../harness/airlock-with-user.ts';
import { run } from '../harness/processes.ts';
import { currentTotp } from '../../src/identity/totp.ts';

let world: AirlockWithUser;

before(async () => {
  world = await startAirlockWithUser({ prefix: 'airlock-it-inventory-' });
});

after(async () => {
  await world?.stop();
});

test('admin project, member, target add/list/remove', async () => {
  const p = await world.server.admin(['project', 'add', 'genomics']);
  assert.equal(p.code, 0, p.stderr);
  const again = await world.server.admin(['project', 'add', 'genomics']);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /^airlock: a project named genomics already exists\n$/);
  assert.equal((await world.server.admin(['project', 'member', 'add', 'genomics', 'alice'])).code, 0);
  const projects = JSON.parse((await world.server.admin(['project', 'list', '--json'])).stdout) as { name: string; members: { user: string; role: string }[] }[];
  assert.deepEqual(projects.map((x) => [x.name, x.members]), [['genomics', [{ user: 'alice', role: 'member' }]]]);

  const add = await world.server.admin(['target', 'add', 'vm1', '--project', 'genomics', '--address', '[2001:db8::5]:2222', '--user', 'ubuntu',
    '--service', 'jupyter=8888/lab?token=abc123', '--service', 'redis=6379', '--allow-cidr', '192.0.2.0/24', '--expires', '8h', '--json']);
  assert.equal(add.code, 0, add.stderr);
  const t = JSON.parse(add.stdout) as { name: string; host: string; port: number; login_user: string; services: { spec: string }[]; allowed_cidrs: string[]; expires_at: string };
  assert.deepEqual([t.name, t.host, t.port, t.login_user, t.services.map((s) => s.spec), t.allowed_cidrs],
    ['vm1', '2001:db8::5', 2222, 'ubuntu', ['jupyter=8888/lab?token=abc123', 'redis=6379'], ['192.0.2.0/24']]);
  assert.ok(Math.abs(Date.parse(t.expires_at) - (Date.now() + 8 * 3_600_000)) < 60_000);

  const bad = await world.server.admin(['target', 'add', 'vm2', '--project', 'genomics', '--address', '10.0.0.5:22', '--service', 'jupyter']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /NAME=PORT/);
  const dup = await world.server.admin(['target', 'add', 'vm1', '--project', 'genomics', '--address', '10.0.0.5']);
  assert.notEqual(dup.code, 0);
  assert.match(dup.stderr, /already exists/);

  assert.equal((await world.server.admin(['target', 'add', 'vm2', '--project', 'genomics', '--address', 'vm2.example.org'])).code, 0);
  const table = await world.server.admin(['target', 'list']);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^NAME +PROJECT +ADDRESS/);
  assert.match(table.stdout, /\nvm1 +genomics +\[2001:db8::5\]:2222 +ubuntu +jupyter=8888\/lab\?token=…,redis=6379 +192\.0\.2\.0\/24 /);
  assert.doesNotMatch(table.stdout, /abc123/, 'the table does not show service tokens');
  assert.match(table.stdout, /\nvm2 +genomics +vm2\.example\.org:22 +- +- +any +-\n/);

  const rm = await world.server.admin(['target', 'remove', 'vm1']);
  assert.equal(rm.code, 0, rm.stderr);
  const list = JSON.parse((await world.server.admin(['target', 'list', '--project', 'genomics', '--json'])).stdout) as { name: string }[];
  assert.deepEqual(list.map((x) => x.name), ['vm2']);
  assert.equal((await world.server.admin(['target', 'remove', 'vm1'])).code, 5);
});

test('an orchestrator token from admin token create works against the running server', async () => {
  const created = await world.server.admin(['token', 'create', '--name', 'openstack', '--scope', 'targets:write,targets:read', '--project', 'genomics']);
  assert.equal(created.code, 0, created.stderr);
  const token = created.stdout.trim();
  assert.match(token, /^alk_[A-Za-z0-9_-]{43}$/);
  assert.doesNotMatch(created.stderr, new RegExp(token));
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const post = await fetch(`${world.server.httpUrl}/api/v1/targets`, { method: 'POST', headers, body: JSON.stringify({ name: 'job-7', address: '10.0.0.7:22', expires_in: '1h' }) });
  assert.equal(post.status, 201, await post.clone().text());
  const keys = await fetch(`${world.server.httpUrl}/api/v1/projects/genomics/authorized_keys`, { headers });
  assert.equal(keys.status, 403);
  assert.match(((await keys.json()) as { error: { message: string } }).error.message, /"keys:read"/);
  const list = JSON.parse((await world.server.admin(['target', 'list', '--json'])).stdout) as { name: string }[];
  assert.deepEqual(list.map((x) => x.name), ['job-7', 'vm2']);
  assert.equal((await world.server.admin(['token', 'revoke', '--name', 'openstack'])).code, 0);
  // The CLI is another process: the server's cached lookup ends when it sees the credentials version
  // move (SECURITY.md: within a second), not necessarily by the very next request.
  const revokedAt = performance.now();
  let status = 0;
  for (let i = 0; i < 200 && status !== 401; i++) {
    status = (await fetch(`${world.server.httpUrl}/api/v1/targets`, { headers })).status;
    if (status !== 401) await new Promise((r) => setTimeout(r, 10));
  }
  const waited = performance.now() - revokedAt;
  assert.equal(status, 401);
  assert.ok(waited < 1000, `refused ${waited} ms after the CLI revoked the token`);
});

test('keys add/list/remove through the saved session', async () => {
  const login = await airlock(['login', '--server', world.server.httpUrl, '--user', 'alice', '--password-stdin', '--otp', currentTotp(world.totpSecret, Date.now())], { input: world.password + '\n', env: world.env() });
  assert.equal(login.code, 0, login.stderr);
  const keyFile = join(world.dir, 'id_ed25519');
  const gen = await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice@laptop', '-f', keyFile]);
  assert.equal(gen.code, 0, gen.stderr);
  const fingerprint = (await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${keyFile}.pub`])).stdout.split(' ')[1]!;

  const privateKey = await airlock(['keys', 'add', keyFile], { env: world.env() });
  assert.equal(privateKey.code, 2);
  assert.match(privateKey.stderr, /is a private key; nothing was sent/);

  const add = await airlock(['keys', 'add', `${keyFile}.pub`, '--json'], { env: world.env() });
  assert.equal(add.code, 0, add.stderr);
  assert.deepEqual((JSON.parse(add.stdout) as { fingerprint: string }[]).map((k) => k.fingerprint), [fingerprint]);
  const dup = await airlock(['keys', 'add', '-'], { env: world.env(), input: readFileSync(`${keyFile}.pub`, 'utf8') });
  assert.notEqual(dup.code, 0);
  assert.match(dup.stderr, /already registered/);

  const list = await airlock(['keys', 'list'], { env: world.env() });
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, new RegExp(`^FINGERPRINT +TYPE +BITS +COMMENT +ADDED\n${fingerprint.replace(/[+/]/g, '\\$&')} +ssh-ed25519 +256 +alice@laptop `));

  const rm = await airlock(['keys', 'remove', fingerprint], { env: world.env() });
  assert.equal(rm.code, 0, rm.stderr);
  assert.match(rm.stderr, new RegExp(`Removed ${fingerprint.replace(/[+/]/g, '\\$&')}`));
  assert.deepEqual(JSON.parse((await airlock(['keys', 'list', '--json'], { env: world.env() })).stdout), []);
  const gone = await airlock(['keys', 'remove', fingerprint], { env: world.env() });
  assert.equal(gone.code, 5);
});
