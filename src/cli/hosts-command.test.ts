import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostsTable } from './hosts-command.ts';
import type { TargetInfo } from './platform-info.ts';

const target = (name: string, login: string | null): TargetInfo => ({ name, project: 'genomics', host: '10.0.0.5', port: 22, address: '10.0.0.5:22', login_user: login, services: [], expires_at: null });

test('the LOGIN column: the target\'s account, else the account the user name maps to', () => {
  const rows = hostsTable([target('vm1', 'ubuntu'), target('node17', null)], 'bob@uni.example').split('\n');
  assert.match(rows.find((r) => r.startsWith('node17'))!, /^node17 +genomics +bob_uni\.example +10\.0\.0\.5:22 /);
  assert.match(rows.find((r) => r.startsWith('vm1'))!, /^vm1 +genomics +ubuntu /);
  assert.match(hostsTable([target('node17', null)], 'alice'), /node17 +genomics +alice /);
});
