/**
 * The shipped systemd unit (deploy/systemd/airlock.service), checked by systemd's own tools:
 * `systemd-analyze verify` (syntax, directives, the executable) and `systemd-analyze security
 * --offline` (the sandbox's exposure score). The unit is verified as shipped, with only ExecStart
 * pointed at this checkout's executable, which verify requires to exist.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AIRLOCK_BIN, ROOT } from '../harness/airlock.ts';
import { run } from '../harness/processes.ts';

const UNIT = readFileSync(join(ROOT, 'deploy', 'systemd', 'airlock.service'), 'utf8');
/** The exposure score the unit must stay at or below (systemd calls up to 4.9 "OK"). */
const MAX_EXPOSURE = 2.5;

function directive(name: string): string[] {
  return [...UNIT.matchAll(new RegExp(`^${name}=(.*)$`, 'gm'))].map((m) => m[1]!.trim());
}

test('the unit runs as its own user with state in StateDirectory, a read-only system and room for 10,000 connections', () => {
  assert.deepEqual(directive('User'), ['airlock']);
  assert.deepEqual(directive('StateDirectory'), ['airlock']);
  assert.deepEqual(directive('ProtectSystem'), ['strict']);
  assert.deepEqual(directive('NoNewPrivileges'), ['yes']);
  assert.ok(Number(directive('LimitNOFILE')[0]) >= 20_000, 'a connection and a relayed channel each hold a descriptor');
  assert.match(readFileSync(join(ROOT, 'deploy', 'systemd', 'airlock.sysusers.conf'), 'utf8'), /^u airlock - /m);
});

test('systemd-analyze verify accepts the unit, and its security exposure stays low', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-unit-'));
  try {
    const unit = join(dir, 'airlock.service');
    writeFileSync(unit, UNIT.replace(/^ExecStart=\S+/m, `ExecStart=${AIRLOCK_BIN}`));
    const verify = await run('systemd-analyze', ['verify', '--man=no', unit]);
    assert.equal(verify.code, 0, verify.stderr);
    assert.equal(verify.stderr.trim(), '', 'no warnings');
    const security = await run('systemd-analyze', ['security', '--offline=yes', '--no-pager', unit]);
    const score = /Overall exposure level for airlock\.service: ([\d.]+)/.exec(security.stdout);
    assert.ok(score, security.stdout + security.stderr);
    console.log(`# systemd-analyze security: exposure ${score[1]}`);
    assert.ok(Number(score[1]) <= MAX_EXPOSURE, `exposure ${score[1]} above ${MAX_EXPOSURE}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
