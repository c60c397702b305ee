/**
 * The inventory API through the real app (createHttpApp over openCore: real store on in-memory
 * SQLite, real token service, real inventory), driven with app.request().
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../clock.ts';
import { loadConfig } from '../config.ts';
import { openCore, type Core } from '../server.ts';
import { fingerprintSha256 } from '../ssh/fingerprint.ts';
import { formatPublicKey, parsePublicKey, publicKeyFromKeyObject } from '../ssh/keys.ts';
import type { User } from '../store/repositories.ts';
import { createHttpApp } from './app.ts';

const START = 1_750_000_000_000;
const HOUR = 3_600_000;

interface Answer {
  status: number;
  type: string;
  text: string;
  json: { error?: { code: string; message: string; details?: Record<string, unknown> } } & Record<string, unknown>;
}

describe('inventory API', () => {
  let dir: string;
  let core: Core;
  let clock: ManualClock;
  let app: ReturnType<typeof createHttpApp>;
  let alice: User;
  let aliceSession: string;
  let bobSession: string;
  let operatorSession: string;
  let genomicsWriter: string; // targets:write + targets:read, bound to genomics
  let keysReader: string; // keys:read, any project
  let climateKeysReader: string; // keys:read, bound to climate

  const call = async (method: string, path: string, token?: string, body?: unknown): Promise<Answer> => {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await app.request(path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await res.text();
    let json = {} as Answer['json'];
    try {
      json = JSON.parse(text) as Answer['json'];
    } catch {
      /* not JSON */
    }
    return { status: res.status, type: res.headers.get('content-type') ?? '', text, json };
  };
  const keyLine = (comment: string) => formatPublicKey(publicKeyFromKeyObject(generateKeyPairSync('ed25519').privateKey), comment);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'airlock-inventory-http-'));
    clock = new ManualClock(START);
    const config = loadConfig({ env: { AIRLOCK_DATABASE_URL: 'sqlite::memory:' }, flags: { data_dir: dir } });
    core = await openCore(config, { clock, log: null });
    app = createHttpApp({
      ca: core.ca, login: core.login, tokens: core.tokens, store: core.store, clock, inventory: core.inventory, keyRegistry: core.keyRegistry,
      sessionTtlMs: HOUR * 12, certTtlMs: HOUR * 24, certDailyLimit: 5, log: () => undefined,
    });
    const newUser = (name: string, isAdmin = false) => core.store.users.create({ name, email: null, isAdmin, passwordHash: 'x', totpSecret: null }, START);
    const session = async (u: User) => (await core.tokens.issue(u, { kind: 'session', ttlMs: 12 * HOUR })).token;
    alice = await newUser('alice');
    const bob = await newUser('bob');
    const ops = await newUser('ops', true);
    aliceSession = await session(alice);
    bobSession = await session(bob);
    operatorSession = await session(ops);
    const admin = { name: 'admin-cli', clientAddress: null };
    await core.inventory.addProject('genomics', admin);
    await core.inventory.addProject('climate', admin);
    await core.inventory.addMember('genomics', 'alice', 'member', admin);
    await core.inventory.addMember('climate', 'bob', 'member', admin);
    const token = async (account: string, scopes: ('targets:write' | 'targets:read' | 'keys:read')[], projectName: string | null) =>
      (await core.apiTokens.create({ account, scopes, projectName, ttlMs: 30 * 24 * HOUR }, admin)).token;
    genomicsWriter = await token('openstack', ['targets:write', 'targets:read'], 'genomics');
    keysReader = await token('cloudinit', ['keys:read'], null);
    climateKeysReader = await token('climate-hook', ['keys:read'], 'climate');
  });
  after(async () => {
    await core?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe('a person’s keys', () => {
    let fingerprint: string;

    test('POST adds a key and answers with its fingerprint; GET lists it', async () => {
      const line = keyLine('alice@laptop');
      const added = await call('POST', '/api/v1/keys', aliceSession, { public_key: line });
      assert.equal(added.status, 201, added.text);
      fingerprint = added.json.fingerprint as string;
      assert.equal(fingerprint, fingerprintSha256(parsePublicKey(line).blob));
      assert.deepEqual([added.json.type, added.json.bits, added.json.comment, added.json.public_key, added.json.user], ['ssh-ed25519', 256, 'alice@laptop', line, 'alice']);
      const list = await call('GET', '/api/v1/keys', aliceSession);
      assert.deepEqual((list.json.keys as { fingerprint: string }[]).map((k) => k.fingerprint), [fingerprint]);
      assert.deepEqual((await call('GET', '/api/v1/keys', bobSession)).json.keys, []);
    });

    test('duplicates, weak keys and junk get the right error codes', async () => {
      const key = (await call('GET', '/api/v1/keys', aliceSession)).json.keys as { public_key: string }[];
      const dup = await call('POST', '/api/v1/keys', aliceSession, { public_key: key[0]!.public_key });
      assert.deepEqual([dup.status, dup.json.error?.code], [409, 'conflict']);
      const rsa = formatPublicKey(publicKeyFromKeyObject(generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey));
      const weak = await call('POST', '/api/v1/keys', aliceSession, { public_key: rsa });
      assert.deepEqual([weak.status, weak.json.error?.code], [400, 'weak_key']);
      const junk = await call('POST', '/api/v1/keys', aliceSession, { public_key: 'hello' });
      assert.deepEqual([junk.status, junk.json.error?.code], [400, 'invalid_key']);
      const missing = await call('POST', '/api/v1/keys', aliceSession, {});
      assert.deepEqual([missing.status, missing.json.error?.code], [400, 'bad_request']);
    });

    test('no token is 401; an API token may not touch personal keys', async () => {
      assert.equal((await call('GET', '/api/v1/keys')).status, 401);
      const api = await call('GET', '/api/v1/keys', keysReader);
      assert.deepEqual([api.status, api.json.error?.code], [403, 'forbidden']);
      assert.equal((await call('POST', '/api/v1/keys', genomicsWriter, { public_key: keyLine('x') })).status, 403);
    });

    test('DELETE takes the URL-encoded fingerprint; only the owner can remove it', async () => {
      const [key] = (await call('GET', '/api/v1/keys', aliceSession)).json.keys as { fingerprint: string }[];
      const path = `/api/v1/keys/${encodeURIComponent(key!.fingerprint)}`;
      assert.equal((await call('DELETE', path, bobSession)).status, 404);
      const removed = await call('DELETE', path, aliceSession);
      assert.equal(removed.status, 200, removed.text);
      assert.equal(removed.json.removed, key!.fingerprint);
      assert.equal((await call('DELETE', path, aliceSession)).status, 404);
      assert.deepEqual((await call('GET', '/api/v1/keys', aliceSession)).json.keys, []);
    });
  });

  describe('targets', () => {
    test('a token without targets:write gets 403 naming the scope; so does a non-operator session', async () => {
      for (const token of [keysReader, aliceSession]) {
        const r = await call('POST', '/api/v1/targets', token, { name: 'vm1', project: 'genomics', address: '10.0.0.5:22' });
        assert.equal(r.status, 403, r.text);
        assert.match(r.json.error!.message, /"targets:write"/);
        assert.equal(r.json.error!.details?.required_scope, 'targets:write');
      }
      assert.equal((await call('POST', '/api/v1/targets', undefined, {})).status, 401);
    });

    test('an orchestrator registers a target with services and expiry; its project is the default', async () => {
      const r = await call('POST', '/api/v1/targets', genomicsWriter, {
        name: 'job-42', address: '[2001:db8::5]:2222', login_user: 'ubuntu', expires_in: '2h',
        services: ['jupyter=8888/lab?token=abc123', { name: 'redis', port: 6379 }], allowed_cidrs: ['192.0.2.0/24'],
      });
      assert.equal(r.status, 201, r.text);
      assert.deepEqual(r.json, {
        name: 'job-42', project: 'genomics', host: '2001:db8::5', port: 2222, address: '[2001:db8::5]:2222', login_user: 'ubuntu',
        services: [
          { name: 'jupyter', port: 8888, path: '/lab', token: 'abc123', spec: 'jupyter=8888/lab?token=abc123' },
          { name: 'redis', port: 6379, path: null, token: null, spec: 'redis=6379' },
        ],
        allowed_cidrs: ['192.0.2.0/24'], expires_at: new Date(START + 2 * HOUR).toISOString(), created_at: new Date(START).toISOString(),
      });
      const [event] = await core.store.audit.list({ type: 'inventory.target_add' });
      assert.equal(event!.actor, 'openstack');
      const vm = await call('POST', '/api/v1/targets', genomicsWriter, { name: 'vm-7', project: 'genomics', host: 'vm7.example.org', expires_at: new Date(START + 4 * HOUR).toISOString() });
      assert.equal(vm.status, 201, vm.text);
      assert.deepEqual([vm.json.port, vm.json.expires_at], [22, new Date(START + 4 * HOUR).toISOString()]);
    });

    test('bad requests: duplicate name, another project, malformed fields', async () => {
      const dup = await call('POST', '/api/v1/targets', genomicsWriter, { name: 'job-42', address: '10.0.0.9' });
      assert.deepEqual([dup.status, dup.json.error?.code], [409, 'conflict']);
      const other = await call('POST', '/api/v1/targets', genomicsWriter, { name: 'c1', project: 'climate', address: '10.0.0.9' });
      assert.deepEqual([other.status, other.json.error?.code], [403, 'forbidden']);
      for (const body of [
        { name: 'x1', address: '2130706433' },
        { name: 'x1', address: '10.0.0.1:0' },
        { name: 'x1', host: '10.0.0.1', address: '10.0.0.1' },
        { name: 'x1', address: '10.0.0.1:22', port: 22 },
        { name: 'X 1', address: '10.0.0.1' },
        { name: 'x1', address: '10.0.0.1', services: ['jupyter'] },
        { name: 'x1', address: '10.0.0.1', services: [{ name: 'a' }] },
        { name: 'x1', address: '10.0.0.1', allowed_cidrs: ['10.0.0.1/8'] },
        { name: 'x1', address: '10.0.0.1', expires_in: '2 hours' },
        { name: 'x1', address: '10.0.0.1', expires_in: '2h', expires_at: '2030-01-01T00:00:00Z' },
        { name: 'x1', address: '10.0.0.1', expires_at: 'tomorrow' },
        { name: 'x1', address: '10.0.0.1', expires_at: new Date(START - 1).toISOString() },
        { name: 'x1', address: '10.0.0.1', login_user: 'Root' },
        { address: '10.0.0.1' },
      ]) {
        const r = await call('POST', '/api/v1/targets', genomicsWriter, body);
        assert.deepEqual([r.status, r.json.error?.code], [400, 'bad_request'], JSON.stringify(body));
      }
      const notJson = await app.request('/api/v1/targets', { method: 'POST', headers: { authorization: `Bearer ${genomicsWriter}`, 'content-type': 'application/json' }, body: '{' });
      assert.equal(notJson.status, 400);
      assert.equal(await core.inventory.targetByName('x1'), undefined);
    });

    test('an operator’s session registers targets in any project', async () => {
      const r = await call('POST', '/api/v1/targets', operatorSession, { name: 'clim-1', project: 'climate', address: '10.1.0.1' });
      assert.equal(r.status, 201, r.text);
    });

    test('GET /api/v1/targets: a person sees the live targets of their projects, tokens with targets:read their project’s', async () => {
      const names = async (token: string) => ((await call('GET', '/api/v1/targets', token)).json.targets as { name: string }[]).map((t) => t.name);
      assert.deepEqual(await names(aliceSession), ['job-42', 'vm-7']);
      assert.deepEqual(await names(bobSession), ['clim-1']);
      assert.deepEqual(await names(operatorSession), []);
      assert.deepEqual(await names(genomicsWriter), ['job-42', 'vm-7']);
      const r = await call('GET', '/api/v1/targets', keysReader);
      assert.equal(r.status, 403);
      assert.match(r.json.error!.message, /"targets:read"/);
      const [job] = (await call('GET', '/api/v1/targets', aliceSession)).json.targets as { services: { token: string | null }[] }[];
      assert.equal(job!.services[0]!.token, 'abc123');
      clock.advance(3 * HOUR);
      assert.deepEqual(await names(aliceSession), ['vm-7']);
      clock.set(START);
    });

    test('DELETE /api/v1/targets/:name: unreachable at once; other projects’ targets look absent to a bound token', async () => {
      const other = await call('DELETE', '/api/v1/targets/clim-1', genomicsWriter);
      assert.deepEqual([other.status, other.json.error?.code], [404, 'not_found']);
      assert.equal((await call('DELETE', '/api/v1/targets/job-42', keysReader)).status, 403);
      const r = await call('DELETE', '/api/v1/targets/job-42', genomicsWriter);
      assert.deepEqual([r.status, r.json.removed], [200, 'job-42']);
      assert.deepEqual(((await call('GET', '/api/v1/targets', aliceSession)).json.targets as { name: string }[]).map((t) => t.name), ['vm-7']);
      assert.equal((await call('DELETE', '/api/v1/targets/job-42', genomicsWriter)).status, 404);
    });
  });

  describe('project keys for orchestrators', () => {
    before(async () => {
      await core.keyRegistry.add(alice, keyLine('alice-desktop'), { name: 'alice', clientAddress: null });
    });

    test('authorized_keys is text/plain with one line per member key', async () => {
      const r = await call('GET', '/api/v1/projects/genomics/authorized_keys', keysReader);
      assert.equal(r.status, 200, r.text);
      assert.match(r.type, /^text\/plain/);
      const lines = r.text.trimEnd().split('\n');
      assert.equal(lines.length, 2);
      assert.match(lines[1]!, /^ssh-ed25519 [A-Za-z0-9+/=]+ airlock:alice$/);
    });

    test('cloud-init is text/cloud-config user data', async () => {
      const r = await call('GET', '/api/v1/projects/genomics/cloud-init', keysReader);
      assert.equal(r.status, 200, r.text);
      assert.match(r.type, /^text\/cloud-config/);
      assert.match(r.text, /^#cloud-config\n/);
      assert.match(r.text, /\nssh_authorized_keys:\n {2}- "ssh-ed25519 [A-Za-z0-9+/=]+ airlock:alice"\n$/);
    });

    test('scope, project binding and unknown projects are enforced', async () => {
      for (const path of ['/api/v1/projects/genomics/authorized_keys', '/api/v1/projects/genomics/cloud-init']) {
        const noScope = await call('GET', path, genomicsWriter);
        assert.equal(noScope.status, 403);
        assert.match(noScope.json.error!.message, /"keys:read"/);
        assert.equal((await call('GET', path, climateKeysReader)).status, 403);
        assert.equal((await call('GET', path, aliceSession)).status, 403);
        assert.equal((await call('GET', path)).status, 401);
        assert.equal((await call('GET', path, operatorSession)).status, 200);
      }
      assert.equal((await call('GET', '/api/v1/projects/climate/authorized_keys', climateKeysReader)).status, 200);
      assert.equal((await call('GET', '/api/v1/projects/nope/authorized_keys', keysReader)).status, 404);
    });
  });

  test('an API token cannot act as a person elsewhere in the API (no certificate for a service account)', async () => {
    const key = keyLine('svc');
    for (const [method, path, body] of [['GET', '/api/v1/me', undefined], ['POST', '/api/v1/certificates', { public_key: key }], ['GET', '/api/v1/certificates', undefined]] as const) {
      const r = await call(method, path, genomicsWriter, body);
      assert.deepEqual([r.status, r.json.error?.code], [403, 'forbidden'], path);
    }
    assert.equal((await call('GET', '/api/v1/me', aliceSession)).status, 200);
  });
});
