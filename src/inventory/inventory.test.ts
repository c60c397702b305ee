/** The Inventory against the real store (in-memory SQLite) and the real auditor. */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createAuditor } from '../audit/auditor.ts';
import { ManualClock } from '../clock.ts';
import { isAirlockError } from '../errors.ts';
import { createStore } from '../store/kysely-store.ts';
import type { Store } from '../store/repositories.ts';
import { Inventory } from './inventory.ts';
import type { Actor, NewTarget } from './ports.ts';

const START = 1_750_000_000_000;
const HOUR = 3_600_000;
const admin: Actor = { name: 'admin-cli', clientAddress: null };

function spec(name: string, extra: Partial<NewTarget> = {}): NewTarget {
  return { name, projectName: 'genomics', host: '10.0.0.5', port: 22, loginUser: null, services: [], allowedCidrs: [], expiresAt: null, ...extra };
}

describe('Inventory', () => {
  let store: Store;
  let clock: ManualClock;
  let inventory: Inventory;
  let aliceId: string;

  before(async () => {
    store = await createStore({ url: 'sqlite::memory:', dataDir: '/nonexistent' });
    clock = new ManualClock(START);
    inventory = new Inventory({ store, clock, audit: createAuditor({ repository: store.audit, clock, log: null }) });
    for (const name of ['alice', 'bob']) {
      const u = await store.users.create({ name, email: null, isAdmin: false, passwordHash: 'x', totpSecret: null }, START);
      if (name === 'alice') aliceId = u.id;
    }
  });
  after(async () => {
    await store?.close();
  });

  test('projects: valid names only, duplicates are conflicts, every creation audited', async () => {
    const p = await inventory.addProject('genomics', admin);
    assert.equal(p.name, 'genomics');
    await inventory.addProject('climate', admin);
    await assert.rejects(inventory.addProject('genomics', admin), (err) => isAirlockError(err, 'conflict'));
    await assert.rejects(inventory.addProject('Bad Name', admin), (err) => isAirlockError(err, 'bad_request'));
    const events = await store.audit.list({ type: 'inventory.project_add' });
    assert.deepEqual(events.map((e) => [e.actor, e.details.project]), [['admin-cli', 'genomics'], ['admin-cli', 'climate']]);
  });

  test('members: add, change role, remove; unknown users, projects and roles are refused', async () => {
    assert.equal(await inventory.addMember('genomics', 'alice', 'member', admin), 'added');
    assert.equal(await inventory.addMember('genomics', 'alice', 'pi', admin), 'updated');
    assert.equal(await inventory.addMember('genomics', 'bob', 'member', admin), 'added');
    await assert.rejects(inventory.addMember('genomics', 'nobody', 'member', admin), (err) => isAirlockError(err, 'not_found') && /No user named "nobody"/.test(err.message));
    await assert.rejects(inventory.addMember('nope', 'alice', 'member', admin), (err) => isAirlockError(err, 'not_found') && /No project named "nope"/.test(err.message));
    // @ts-expect-error: a role from outside the type, as a JSON body could carry
    await assert.rejects(inventory.addMember('genomics', 'alice', 'owner', admin), (err) => isAirlockError(err, 'bad_request'));
    await inventory.removeMember('genomics', 'bob', admin);
    await assert.rejects(inventory.removeMember('genomics', 'bob', admin), (err) => isAirlockError(err, 'not_found'));
    const [climate, genomics] = await inventory.listProjects();
    assert.deepEqual([climate!.name, climate!.members], ['climate', []]);
    assert.deepEqual(genomics!.members.map((m) => [m.userName, m.role]), [['alice', 'pi']]);
    assert.deepEqual((await inventory.projectsOfUser(aliceId)).map((p) => [p.name, p.role]), [['genomics', 'pi']]);
    assert.deepEqual((await store.audit.list({ type: 'inventory.member_add' })).map((e) => e.details.result), ['added', 'updated', 'added']);
    assert.equal((await store.audit.list({ type: 'inventory.member_remove' })).length, 1);
  });

  test('addTarget canonicalises host and CIDRs and stores services; the audit names services but never their tokens', async () => {
    const t = await inventory.addTarget(spec('vm1', {
      host: 'VM1.Cloud.Example.org', port: 2200, loginUser: 'ubuntu', allowedCidrs: ['192.0.2.0/24', '2001:DB8::/32'], expiresAt: START + HOUR,
      services: [{ name: 'jupyter', port: 8888, path: '/lab', token: 'sekrit-token' }],
    }), admin);
    assert.equal(t.host, 'vm1.cloud.example.org');
    assert.deepEqual(t.allowedCidrs, ['192.0.2.0/24', '2001:db8::/32']);
    assert.deepEqual(t.services, [{ name: 'jupyter', port: 8888, path: '/lab', token: 'sekrit-token' }]);
    assert.deepEqual(await inventory.targetByName('vm1'), t);
    const [event] = await store.audit.list({ type: 'inventory.target_add' });
    assert.deepEqual(event!.details.services, ['jupyter=8888']);
    assert.doesNotMatch(JSON.stringify(event), /sekrit/);
  });

  test('addTarget validates every field', async () => {
    const bad = async (extra: Partial<NewTarget>, code: 'bad_request' | 'not_found' = 'bad_request') =>
      assert.rejects(inventory.addTarget(spec('vm-bad', extra), admin), (err) => isAirlockError(err, code), JSON.stringify(extra));
    await bad({ name: 'VM_1' });
    await bad({ host: '2130706433' });
    await bad({ host: 'fe80::1%eth0' });
    await bad({ port: 0 });
    await bad({ port: 70000 });
    await bad({ loginUser: 'Root' });
    await bad({ allowedCidrs: ['10.0.0.1/8'] });
    await bad({ services: [{ name: 'a', port: 1, path: null, token: null }, { name: 'a', port: 2, path: null, token: null }] });
    await bad({ services: [{ name: 'a', port: 1, path: 'no-slash', token: null }] });
    await bad({ expiresAt: START });
    await bad({ projectName: 'nope' }, 'not_found');
    assert.equal(await inventory.targetByName('vm-bad'), undefined);
  });

  test('a duplicate live name is a conflict; a project-bound caller cannot add to another project', async () => {
    await assert.rejects(inventory.addTarget(spec('vm1'), admin), (err) => isAirlockError(err, 'conflict'));
    const climate = await inventory.project('climate');
    await assert.rejects(inventory.addTarget(spec('vm2'), admin, { onlyProjectId: climate.id }), (err) => isAirlockError(err, 'forbidden'));
    const ok = await inventory.addTarget(spec('vm2', { projectName: 'climate' }), admin, { onlyProjectId: climate.id });
    assert.equal(ok.projectName, 'climate');
  });

  test('targetsForUser and listTargets hide expired targets at once', async () => {
    await inventory.addTarget(spec('job-1', { expiresAt: START + 2 * HOUR }), admin);
    assert.deepEqual((await inventory.targetsForUser(aliceId, clock.now())).map((t) => t.name), ['job-1', 'vm1']);
    assert.deepEqual((await inventory.listTargets()).map((t) => t.name), ['job-1', 'vm1', 'vm2']);
    assert.deepEqual((await inventory.listTargets({ projectName: 'climate' })).map((t) => t.name), ['vm2']);
    clock.set(START + HOUR);
    assert.deepEqual((await inventory.targetsForUser(aliceId, clock.now())).map((t) => t.name), ['job-1']);
    assert.deepEqual((await inventory.listTargets()).map((t) => t.name), ['job-1', 'vm2']);
    assert.deepEqual((await inventory.listTargets({ includeExpired: true })).map((t) => t.name), ['job-1', 'vm1', 'vm2']);
    // The expired target still answers by name (the gateway checks expiresAt itself).
    assert.equal((await inventory.targetByName('vm1'))?.expiresAt, START + HOUR);
    // …and its name can be registered afresh.
    const again = await inventory.addTarget(spec('vm1', { host: '10.0.0.9' }), admin);
    assert.equal(again.host, '10.0.0.9');
  });

  test('removeTarget: unreachable at once; a project-bound caller sees other projects’ targets as absent', async () => {
    const climate = await inventory.project('climate');
    await assert.rejects(inventory.removeTarget('job-1', admin, { onlyProjectId: climate.id }), (err) => isAirlockError(err, 'not_found'));
    assert.ok(await inventory.targetByName('job-1'));
    const removed = await inventory.removeTarget('job-1', { name: 'orchestrator', clientAddress: '192.0.2.7' });
    assert.equal(removed.name, 'job-1');
    assert.ok(!(await inventory.targetsForUser(aliceId, clock.now())).some((t) => t.name === 'job-1'));
    await assert.rejects(inventory.removeTarget('job-1', admin), (err) => isAirlockError(err, 'not_found'));
    const [event] = await store.audit.list({ type: 'inventory.target_remove' });
    assert.deepEqual([event!.actor, event!.clientAddress, event!.details], ['orchestrator', '192.0.2.7', { target: 'job-1', project: 'genomics' }]);
  });
});
