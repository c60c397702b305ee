import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { STORE_DIALECTS } from '../../test/harness/store-fixtures.ts';
import { ACCESS_VERSION_KEY, LIVE_VERSION_KEYS } from './access-version.ts';
import type { Store } from './repositories.ts';

const NOW = 1_750_000_000_000;

const version = async (store: Store): Promise<number> => Number((await store.settings.getMany([ACCESS_VERSION_KEY])).get(ACCESS_VERSION_KEY) ?? '0');

for (const d of STORE_DIALECTS) {
  describe(`access version on ${d.dialect}`, { skip: d.skip }, () => {
    test('every write that takes access away bumps it once; no-ops and writes that grant access do not need to', async () => {
      const f = await d.open();
      const { store } = f;
      try {
        const user = await store.users.create({ name: 'alice', email: null, isAdmin: false, passwordHash: 'x', totpSecret: null }, NOW);
        const project = await store.projects.create('genomics', NOW);
        await store.projects.setMember(project.id, user.id, 'member');
        await store.targets.create({ name: 'vm1', projectId: project.id, host: '10.0.0.5', port: 22, loginUser: null, services: [], allowedCidrs: [], expiresAt: null }, NOW);
        const key = await store.publicKeys.create({ userId: user.id, type: 'ssh-ed25519', bits: 256, fingerprint: 'SHA256:k', publicKey: 'ssh-ed25519 AAAA k', comment: 'k' }, NOW);
        const base = { userId: user.id, userName: 'alice', certType: 'user' as const, principals: ['alice'], publicKey: 'ssh-ed25519 AAAA', fingerprint: 'SHA256:c', validAfter: NOW, validBefore: NOW + 3_600_000, method: 'test', clientAddress: null, issuedAt: NOW, revokedAt: null, revokeReason: null };
        await store.certificates.insert({ ...base, serial: 1n, keyId: 'a:1' });
        await store.certificates.insert({ ...base, serial: 2n, keyId: 'a:2' });
        assert.equal(await version(store), 0, 'creating things grants access: no bump');

        const steps: [string, () => Promise<unknown>][] = [
          ['revoke one', () => store.certificates.revoke(1n, NOW, 'test')],
          ['revoke all of a user', () => store.certificates.revokeAllOfUser(user.id, NOW, 'test')],
          ['disable a user', () => store.users.setDisabled('alice', true)],
          ['remove a target', () => store.targets.remove('vm1')],
          ['remove a member', () => store.projects.removeMember(project.id, user.id)],
          ['remove a key', () => store.publicKeys.remove(user.id, key.fingerprint)],
        ];
        let expected = 0;
        for (const [what, step] of steps) {
          await step();
          assert.equal(await version(store), ++expected, what);
        }
        // Writes that changed nothing do not wake every gateway.
        await store.certificates.revoke(1n, NOW, 'again');
        await store.certificates.revokeAllOfUser(user.id, NOW, 'again');
        await store.targets.remove('vm1');
        await store.projects.removeMember(project.id, user.id);
        assert.equal(await version(store), expected);
        // One query reads both counters the gateways watch (revocations raise the KRL version themselves).
        const krlBefore = Number((await store.settings.getMany(LIVE_VERSION_KEYS)).get('krl_version') ?? 0);
        assert.ok(krlBefore >= 2, 'both revocations raised the KRL version');
        await store.settings.increment('krl_version');
        const both = await store.settings.getMany(LIVE_VERSION_KEYS);
        assert.deepEqual([...both.entries()].sort(), [[ACCESS_VERSION_KEY, String(expected)], ['krl_version', String(krlBefore + 1)]]);
      } finally {
        await f.cleanup();
      }
    });
  });
}
