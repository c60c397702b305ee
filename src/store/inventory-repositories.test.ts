/**
 * The inventory repositories (projects, members, targets with services, public keys), run against
 * SQLite (a temporary file) and PostgreSQL (a fresh database, when AIRLOCK_TEST_DATABASE_URL is set).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { isAirlockError } from '../errors.ts';
import { STORE_DIALECTS, type StoreFixture as Fixture } from '../../test/harness/store-fixtures.ts';
import type { NewPublicKeyRecord, NewTargetRecord, Store, User } from './repositories.ts';

const dialects = STORE_DIALECTS;

const NOW = 1_750_000_000_000;
const HOUR = 3_600_000;

function target(name: string, projectId: string, extra: Partial<NewTargetRecord> = {}): NewTargetRecord {
  return { name, projectId, host: '10.0.0.5', port: 22, loginUser: null, services: [], allowedCidrs: [], expiresAt: null, ...extra };
}

function key(userId: string, fingerprint: string, extra: Partial<NewPublicKeyRecord> = {}): NewPublicKeyRecord {
  return { userId, type: 'ssh-ed25519', bits: 256, fingerprint, publicKey: `ssh-ed25519 AAAA${fingerprint} c`, comment: 'c', ...extra };
}

for (const d of dialects) {
  describe(`inventory store on ${d.dialect}`, { skip: d.skip }, () => {
    let fx: Fixture;
    let store: Store;
    let alice: User;
    let bob: User;
    before(async () => {
      fx = await d.open();
      store = fx.store;
      const newUser = (name: string) => store.users.create({ name, email: null, isAdmin: false, passwordHash: 'x', totpSecret: null }, NOW);
      alice = await newUser('alice');
      bob = await newUser('bob');
    });
    after(async () => {
      await fx?.cleanup();
    });

    describe('projects', () => {
      test('create, look up by name and id, list by name; a taken name is a conflict even under a race', async () => {
        const genomics = await store.projects.create('genomics', NOW);
        assert.match(genomics.id, /^[0-9a-f-]{36}$/);
        assert.deepEqual(genomics, { id: genomics.id, name: 'genomics', createdAt: NOW });
        assert.deepEqual(await store.projects.byName('genomics'), genomics);
        assert.deepEqual(await store.projects.byId(genomics.id), genomics);
        assert.equal(await store.projects.byName('nope'), undefined);
        await assert.rejects(store.projects.create('genomics', NOW), (err) => isAirlockError(err, 'conflict') && err.message === 'a project named genomics already exists');
        const results = await Promise.allSettled(Array.from({ length: 5 }, () => store.projects.create('climate', NOW)));
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
        for (const r of results) if (r.status === 'rejected') assert.ok(isAirlockError(r.reason, 'conflict'));
        assert.deepEqual((await store.projects.list()).map((p) => p.name), ['climate', 'genomics']);
      });

      test('members: add, change role, list with user names, remove', async () => {
        const p = (await store.projects.byName('genomics'))!;
        assert.equal(await store.projects.setMember(p.id, bob.id, 'member'), 'added');
        assert.equal(await store.projects.setMember(p.id, alice.id, 'member'), 'added');
        assert.equal(await store.projects.setMember(p.id, alice.id, 'pi'), 'updated');
        assert.deepEqual(await store.projects.members(p.id), [
          { projectId: p.id, userId: alice.id, userName: 'alice', role: 'pi' },
          { projectId: p.id, userId: bob.id, userName: 'bob', role: 'member' },
        ]);
        assert.equal(await store.projects.removeMember(p.id, bob.id), true);
        assert.equal(await store.projects.removeMember(p.id, bob.id), false);
        assert.deepEqual((await store.projects.members(p.id)).map((m) => m.userName), ['alice']);
      });

      test('concurrent additions of one membership leave exactly one row', async () => {
        const p = (await store.projects.byName('climate'))!;
        const results = await Promise.all(Array.from({ length: 5 }, () => store.projects.setMember(p.id, bob.id, 'member')));
        assert.equal(results.filter((r) => r === 'added').length, 1);
        assert.equal((await store.projects.members(p.id)).length, 1);
      });

      test('projectsOfUser lists memberships with roles, by project name', async () => {
        const rows = await store.projects.projectsOfUser(bob.id);
        assert.deepEqual(rows.map((r) => [r.name, r.role]), [['climate', 'member']]);
        assert.deepEqual((await store.projects.projectsOfUser(alice.id)).map((r) => [r.name, r.role]), [['genomics', 'pi']]);
      });

      test('a membership for an unknown user is a database error, not a silent success', async () => {
        const p = (await store.projects.byName('climate'))!;
        await assert.rejects(store.projects.setMember(p.id, 'no-such-user', 'member'), (err) => !isAirlockError(err));
      });

      test('a malformed role in the database is an error', async () => {
        const p = await store.projects.create('broken', NOW);
        await store.projects.setMember(p.id, alice.id, 'member');
        await fx.db.updateTable('project_members').set({ role: 'owner' }).where('project_id', '=', p.id).execute();
        await assert.rejects(store.projects.members(p.id), (err) => isAirlockError(err, 'internal'));
        await fx.db.deleteFrom('projects').where('id', '=', p.id).execute();
        assert.deepEqual((await store.projects.projectsOfUser(alice.id)).map((r) => r.name), ['genomics']);
      });
    });

    describe('targets', () => {
      test('create returns what byName reads back, services included and sorted by name', async () => {
        const p = (await store.projects.byName('genomics'))!;
        const created = await store.targets.create(target('vm1', p.id, {
          host: 'vm1.cloud.example.org', port: 2200, loginUser: 'ubuntu', allowedCidrs: ['192.0.2.0/24', '2001:db8::/32'], expiresAt: NOW + HOUR,
          services: [{ name: 'redis', port: 6379, path: null, token: null }, { name: 'jupyter', port: 8888, path: '/lab', token: 'abc' }],
        }), NOW);
        assert.match(created.id, /^[0-9a-f-]{36}$/);
        assert.deepEqual(created, {
          id: created.id, name: 'vm1', projectId: p.id, projectName: 'genomics', host: 'vm1.cloud.example.org', port: 2200, loginUser: 'ubuntu',
          services: [{ name: 'jupyter', port: 8888, path: '/lab', token: 'abc' }, { name: 'redis', port: 6379, path: null, token: null }],
          allowedCidrs: ['192.0.2.0/24', '2001:db8::/32'], expiresAt: NOW + HOUR, createdAt: NOW,
        });
        assert.deepEqual(await store.targets.byName('vm1'), created);
        assert.equal(await store.targets.byName('vm2'), undefined);
      });

      test('a live target’s name is a conflict, also under a race; nothing of the loser is stored', async () => {
        const p = (await store.projects.byName('climate'))!;
        await assert.rejects(store.targets.create(target('vm1', p.id, { services: [{ name: 'x', port: 1, path: null, token: null }] }), NOW),
          (err) => isAirlockError(err, 'conflict') && err.message === 'a target named vm1 already exists');
        assert.equal((await store.targets.byName('vm1'))?.projectName, 'genomics');
        const results = await Promise.allSettled(Array.from({ length: 5 }, (_, i) =>
          store.targets.create(target('race', p.id, { port: 1000 + i, services: [{ name: 'svc', port: 2000 + i, path: null, token: null }] }), NOW)));
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
        for (const r of results) if (r.status === 'rejected') assert.ok(isAirlockError(r.reason, 'conflict'));
        const winner = (await store.targets.byName('race'))!;
        assert.equal(winner.services.length, 1);
        assert.equal(winner.services[0]!.port, winner.port + 1000);
      });

      test('an expired target’s name is free again: the old target and its services are replaced', async () => {
        const p = (await store.projects.byName('genomics'))!;
        const old = await store.targets.create(target('job-7', p.id, { expiresAt: NOW + 10, services: [{ name: 'old', port: 1, path: null, token: null }] }), NOW);
        await assert.rejects(store.targets.create(target('job-7', p.id), NOW + 9), (err) => isAirlockError(err, 'conflict'));
        const fresh = await store.targets.create(target('job-7', p.id, { services: [{ name: 'new', port: 2, path: null, token: null }] }), NOW + 10);
        assert.notEqual(fresh.id, old.id);
        assert.deepEqual((await store.targets.byName('job-7'))?.services.map((s) => s.name), ['new']);
        const orphans = await fx.db.selectFrom('target_services').select('name').where('target_id', '=', old.id).execute();
        assert.deepEqual(orphans, []);
      });

      test('list filters by project and expiry; listForUser gives live targets of the user’s projects', async () => {
        const genomics = (await store.projects.byName('genomics'))!;
        const climate = (await store.projects.byName('climate'))!;
        await store.targets.create(target('gone', genomics.id, { expiresAt: NOW }), NOW - HOUR);
        await store.targets.create(target('a-climate', climate.id), NOW);
        assert.deepEqual((await store.targets.list()).map((t) => t.name), ['a-climate', 'gone', 'job-7', 'race', 'vm1']);
        assert.deepEqual((await store.targets.list({ projectId: genomics.id })).map((t) => t.name), ['gone', 'job-7', 'vm1']);
        // Expiry is exclusive: at exactly expires_at the target is gone.
        assert.deepEqual((await store.targets.list({ projectId: genomics.id, validAt: NOW })).map((t) => t.name), ['job-7', 'vm1']);
        assert.deepEqual((await store.targets.list({ validAt: NOW + HOUR })).map((t) => t.name), ['a-climate', 'job-7', 'race']);
        assert.deepEqual((await store.targets.listForUser(alice.id, NOW)).map((t) => t.name), ['job-7', 'vm1']);
        assert.deepEqual((await store.targets.listForUser(bob.id, NOW)).map((t) => t.name), ['a-climate', 'race']);
        const vm1 = (await store.targets.listForUser(alice.id, NOW)).find((t) => t.name === 'vm1');
        assert.deepEqual(vm1?.services.map((s) => s.name), ['jupyter', 'redis']);
        assert.deepEqual(await store.targets.listForUser('00000000-0000-0000-0000-000000000000', NOW), []);
      });

      test('services of many targets are loaded in batches without mixing them up', async () => {
        const p = await store.projects.create('bulk', NOW);
        for (let i = 0; i < 520; i++) {
          await store.targets.create(target(`n${String(i).padStart(3, '0')}`, p.id, { services: [{ name: 'ssh', port: 10_000 + i, path: null, token: null }] }), NOW);
        }
        const all = await store.targets.list({ projectId: p.id });
        assert.equal(all.length, 520);
        for (const [i, t] of all.entries()) assert.deepEqual(t.services.map((s) => s.port), [10_000 + i]);
      });

      test('remove deletes the target and its services; a project restriction is honoured', async () => {
        const climate = (await store.projects.byName('climate'))!;
        const vm1 = (await store.targets.byName('vm1'))!;
        assert.equal(await store.targets.remove('vm1', { projectId: climate.id }), false);
        assert.ok(await store.targets.byName('vm1'));
        assert.equal(await store.targets.remove('vm1'), true);
        assert.equal(await store.targets.remove('vm1'), false);
        assert.equal(await store.targets.byName('vm1'), undefined);
        const left = await fx.db.selectFrom('target_services').select('name').where('target_id', '=', vm1.id).execute();
        assert.deepEqual(left, []);
        assert.equal(await store.targets.remove('a-climate', { projectId: climate.id }), true);
      });

      test('a target needs an existing project (foreign key), and a malformed row is an error', async () => {
        await assert.rejects(store.targets.create(target('orphan', 'no-such-project'), NOW), (err) => !isAirlockError(err));
        assert.equal(await store.targets.byName('orphan'), undefined);
        await fx.db.updateTable('targets').set({ allowed_cidrs: '"10.0.0.0/8"' }).where('name', '=', 'job-7').execute();
        await assert.rejects(store.targets.byName('job-7'), (err) => isAirlockError(err, 'internal'));
        await fx.db.updateTable('targets').set({ allowed_cidrs: '[]' }).where('name', '=', 'job-7').execute();
      });
    });

    describe('public keys', () => {
      test('create, look up, list oldest first, count', async () => {
        const k1 = await store.publicKeys.create(key(alice.id, 'SHA256:one', { type: 'ssh-rsa', bits: 3072, comment: 'laptop' }), NOW);
        assert.deepEqual(k1, {
          id: k1.id, userId: alice.id, userName: 'alice', type: 'ssh-rsa', bits: 3072, fingerprint: 'SHA256:one',
          publicKey: 'ssh-ed25519 AAAASHA256:one c', comment: 'laptop', createdAt: NOW,
        });
        await store.publicKeys.create(key(alice.id, 'SHA256:two'), NOW + 1);
        await store.publicKeys.create(key(bob.id, 'SHA256:one'), NOW);
        assert.deepEqual(await store.publicKeys.byUserAndFingerprint(alice.id, 'SHA256:one'), k1);
        assert.equal(await store.publicKeys.byUserAndFingerprint(alice.id, 'SHA256:three'), undefined);
        assert.deepEqual((await store.publicKeys.listByUser(alice.id)).map((k) => k.fingerprint), ['SHA256:one', 'SHA256:two']);
        assert.equal(await store.publicKeys.countByUser(alice.id), 2);
        assert.equal(await store.publicKeys.countByUser('nobody'), 0);
      });

      test('the same key twice for one user is a conflict, also under a race', async () => {
        await assert.rejects(store.publicKeys.create(key(alice.id, 'SHA256:one'), NOW), (err) => isAirlockError(err, 'conflict'));
        const results = await Promise.allSettled(Array.from({ length: 5 }, () => store.publicKeys.create(key(bob.id, 'SHA256:raced'), NOW)));
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
        for (const r of results) if (r.status === 'rejected') assert.ok(isAirlockError(r.reason, 'conflict'));
      });

      test('listForProject gives keys of enabled members only, by user', async () => {
        const genomics = (await store.projects.byName('genomics'))!;
        await store.projects.setMember(genomics.id, bob.id, 'member');
        assert.deepEqual((await store.publicKeys.listForProject(genomics.id)).map((k) => `${k.userName} ${k.fingerprint}`),
          ['alice SHA256:one', 'alice SHA256:two', 'bob SHA256:one', 'bob SHA256:raced']);
        await store.users.setDisabled('bob', true);
        assert.deepEqual((await store.publicKeys.listForProject(genomics.id)).map((k) => k.userName), ['alice', 'alice']);
        await store.users.setDisabled('bob', false);
        const climate = (await store.projects.byName('climate'))!;
        assert.deepEqual((await store.publicKeys.listForProject(climate.id)).map((k) => k.userName), ['bob', 'bob']);
      });

      test('remove deletes only that user’s key', async () => {
        assert.equal(await store.publicKeys.remove(alice.id, 'SHA256:one'), true);
        assert.equal(await store.publicKeys.remove(alice.id, 'SHA256:one'), false);
        assert.ok(await store.publicKeys.byUserAndFingerprint(bob.id, 'SHA256:one'));
      });
    });

    describe('lifecycle', () => {
      test('deleting a user removes their keys and memberships; deleting a project removes its targets and services', async () => {
        const carol = await store.users.create({ name: 'carol', email: null, isAdmin: false, passwordHash: 'x', totpSecret: null }, NOW);
        const p = await store.projects.create('doomed', NOW);
        await store.projects.setMember(p.id, carol.id, 'admin');
        await store.publicKeys.create(key(carol.id, 'SHA256:carol'), NOW);
        const t = await store.targets.create(target('doomed-vm', p.id, { services: [{ name: 'web', port: 80, path: '/', token: null }] }), NOW);
        await fx.db.deleteFrom('users').where('id', '=', carol.id).execute();
        assert.deepEqual(await store.projects.members(p.id), []);
        assert.equal(await store.publicKeys.countByUser(carol.id), 0);
        await fx.db.deleteFrom('projects').where('id', '=', p.id).execute();
        assert.equal(await store.targets.byName('doomed-vm'), undefined);
        const count = Number((await sql<{ n: number }>`select count(*) as n from target_services where target_id = ${t.id}`.execute(fx.db)).rows[0]!.n);
        assert.equal(count, 0);
      });
    });
  });
}
