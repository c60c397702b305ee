/**
 * The jobs repository on SQLite and PostgreSQL: port allocation from the pool (never two live jobs on one
 * port, reuse only after the quarantine, atomic under concurrent allocations), renew, end, ownership
 * and the job log.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { isAirlockError } from '../errors.ts';
import { STORE_DIALECTS, type StoreFixture } from '../../test/harness/store-fixtures.ts';
import type { NewJobRecord, PortPool } from '../jobs/job.ts';
import type { Store, User } from './repositories.ts';

const NOW = 1_750_000_000_000;
const HOUR = 3_600_000;
const MINUTE = 60_000;

function job(projectId: string, extra: Partial<NewJobRecord> = {}): NewJobRecord {
  return {
    name: 'job-1', projectId, owners: [], host: '10.0.0.9', sshPort: 22, loginUser: 'ucloud', clientCidrs: [], services: [{ name: 'jupyter', port: 8888 }],
    forwarding: [], hostKey: null, expiresAt: NOW + HOUR, createdBy: 'slurm', ...extra,
  };
}

for (const d of STORE_DIALECTS) {
  describe(`jobs store on ${d.dialect}`, { skip: d.skip }, () => {
    let fx: StoreFixture;
    let store: Store;
    let alice: User;
    let bob: User;
    let projectId: string;
    before(async () => {
      fx = await d.open();
      store = fx.store;
      const newUser = (name: string) => store.users.create({ name, email: null, isAdmin: false, passwordHash: 'x', totpSecret: null }, NOW);
      alice = await newUser('alice');
      bob = await newUser('bob');
      projectId = (await store.projects.create('genomics', NOW)).id;
      await store.projects.setMember(projectId, alice.id, 'member');
      await store.projects.setMember(projectId, bob.id, 'member');
    });
    after(async () => {
      await fx?.cleanup();
    });

    test('ports come from the pool, one live job per port; an ended port waits out the quarantine', async () => {
      const pool: PortPool = { first: 41000, last: 41001, quarantineMs: 10 * MINUTE };
      const a = await store.jobs.create(job(projectId, { name: 'a' }), pool, NOW);
      const b = await store.jobs.create(job(projectId, { name: 'b' }), pool, NOW);
      assert.deepEqual([a.port, b.port].sort(), [41000, 41001]);
      assert.equal(a.projectName, 'genomics');
      assert.deepEqual(a.services, [{ name: 'jupyter', port: 8888 }]);
      await assert.rejects(store.jobs.create(job(projectId, { name: 'c' }), pool, NOW), (err) => isAirlockError(err, 'unavailable'));
      const ended = await store.jobs.end(a.id, NOW + MINUTE);
      assert.equal(ended?.endedAt, NOW + MINUTE);
      assert.equal(await store.jobs.end(a.id, NOW + MINUTE), undefined, 'ending twice is a no-op');
      // Inside the quarantine the freed port is not handed out.
      await assert.rejects(store.jobs.create(job(projectId, { name: 'c' }), pool, NOW + 5 * MINUTE), (err) => isAirlockError(err, 'unavailable'));
      const c = await store.jobs.create(job(projectId, { name: 'c', expiresAt: NOW + 2 * HOUR }), pool, NOW + 11 * MINUTE);
      assert.equal(c.port, a.port);
      // An expired job's port is held until its expiry plus the quarantine; renew moves the expiry.
      assert.equal((await store.jobs.renew(b.id, NOW + 3 * HOUR, NOW + 30 * MINUTE))?.expiresAt, NOW + 3 * HOUR);
      assert.equal(await store.jobs.renew(a.id, NOW + 3 * HOUR, NOW + 30 * MINUTE), undefined, 'an ended job cannot be renewed');
      await assert.rejects(store.jobs.create(job(projectId, { name: 'd' }), pool, NOW + 2 * HOUR + 5 * MINUTE), (err) => isAirlockError(err, 'unavailable'));
      const e = await store.jobs.create(job(projectId, { name: 'e', expiresAt: NOW + 5 * HOUR }), pool, NOW + 2 * HOUR + 11 * MINUTE);
      assert.equal(e.port, c.port);
      const live = await store.jobs.list({ liveAt: NOW + 2 * HOUR + 11 * MINUTE });
      assert.deepEqual(live.map((j) => j.name).sort(), ['b', 'e']);
    });

    test('concurrent allocations never share a port', async () => {
      const pool: PortPool = { first: 42000, last: 42019, quarantineMs: MINUTE };
      const results = await Promise.allSettled(Array.from({ length: 24 }, (_, i) => store.jobs.create(job(projectId, { name: `par-${i}` }), pool, NOW)));
      const ports = results.filter((r) => r.status === 'fulfilled').map((r) => r.value.port);
      assert.equal(ports.length, 20, 'every port of the pool was allocated');
      assert.equal(new Set(ports).size, ports.length, 'no port twice');
      for (const r of results) if (r.status === 'rejected') assert.ok(isAirlockError(r.reason, 'unavailable'), String(r.reason));
    });

    test('ownership: named owners only, or the whole project', async () => {
      const pool: PortPool = { first: 43000, last: 43009, quarantineMs: MINUTE };
      const mine = await store.jobs.create(job(projectId, { name: 'alice-only', owners: [alice.id] }), pool, NOW);
      const all = await store.jobs.create(job(projectId, { name: 'everyone' }), pool, NOW);
      const forAlice = (await store.jobs.listForUser(alice.id, NOW)).map((j) => j.id);
      const forBob = (await store.jobs.listForUser(bob.id, NOW)).map((j) => j.id);
      assert.ok(forAlice.includes(mine.id) && forAlice.includes(all.id));
      assert.ok(!forBob.includes(mine.id) && forBob.includes(all.id));
      assert.ok(!(await store.jobs.listForUser(alice.id, NOW + 2 * HOUR)).some((j) => j.id === mine.id), 'expired jobs are not listed');
    });

    test('a job keeps the forwarding it allows; none by default', async () => {
      const pool: PortPool = { first: 43010, last: 43019, quarantineMs: MINUTE };
      const plain = await store.jobs.create(job(projectId, { name: 'plain' }), pool, NOW);
      const agent = await store.jobs.create(job(projectId, { name: 'agent', forwarding: ['agent', 'x11'] }), pool, NOW);
      assert.deepEqual((await store.jobs.byId(plain.id))?.forwarding, []);
      assert.deepEqual((await store.jobs.byId(agent.id))?.forwarding, ['agent', 'x11']);
    });

    test('the job log records connections and refusals in order', async () => {
      const pool: PortPool = { first: 44000, last: 44000, quarantineMs: MINUTE };
      const j = await store.jobs.create(job(projectId, { name: 'logged' }), pool, NOW);
      const refused = await store.jobs.addEvent({ jobId: j.id, userName: null, clientAddress: '127.0.0.2', port: j.port, startedAt: NOW + 1, endedAt: NOW + 1, outcome: 'refused_cidr', reason: 'outside 127.0.0.1/32' });
      const open = await store.jobs.addEvent({ jobId: j.id, userName: 'alice', clientAddress: '127.0.0.1', port: j.port, startedAt: NOW + 2, outcome: 'open', reason: null });
      await store.jobs.finishEvent(open.id, { endedAt: NOW + 10, bytesIn: 123, bytesOut: 4567, outcome: 'success' });
      const events = await store.jobs.events(j.id);
      assert.deepEqual(events, [refused, { ...open, endedAt: NOW + 10, bytesIn: 123, bytesOut: 4567, outcome: 'success' }]);
    });
  });
}
