/**
 * What is already open ends when access is taken away (issue 10, item 5), with the stock OpenSSH
 * client through the gateway to a real sshd: a ControlMaster session on a target (new sessions ride
 * inside its one gateway channel) is ended within a second of a certificate revocation, a user being
 * disabled, the target being removed, and the target expiring; the client prints the reason; the end is
 * audited. "Within a second" is measured from the moment the change is known to be committed (the
 * admin command has exited, or the in-process call has returned) to the moment the ssh process exits,
 * waiting for the event rather than sleeping; it can be slightly negative when the gateway acts while
 * the admin command is still exiting.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { spawn } from 'node:child_process';
import { airlock } from '../harness/airlock.ts';
import { waitFor } from '../harness/processes.ts';
import type { TestSshd } from '../harness/sshd.ts';
import { sshF, startTargetSshd, startTestGateway, writeSshConfig, type TestGateway, type UserKey } from '../harness/gateway.ts';
import type { AuditEvent } from '../../src/store/repositories.ts';

/** Generous for a busy 2-core machine, still far below "a check at the next channel open". */
const WITHIN_MS = 1_500;

let gw: TestGateway;
let node: TestSshd;

before(async () => {
  gw = await startTestGateway({ AIRLOCK_GATEWAY_ALLOW_LOOPBACK_TARGETS: '1', AIRLOCK_GATEWAY_PENALTIES: 'off' });
  node = await startTargetSshd(gw, ['ann', 'ben', 'cid', 'dot', 'eve']);
  const [type, b64] = node.hostKeyPub.split(' ');
  appendFileSync(gw.knownHosts, `[127.0.0.1]:${node.port} ${type} ${b64}\n`);
});

after(async () => {
  await node?.stop();
  await gw?.stop();
});

/** An ssh config for `u`: the gateway as `gw` (LogLevel INFO, so that a disconnect reason is printed) and `target` through it. */
function configFor(u: UserKey, target: string): string {
  appendFileSync(gw.knownHosts, `[${target}]:${node.port} ${node.hostKeyPub.split(' ').slice(0, 2).join(' ')}\n`);
  return writeSshConfig(join(gw.dir, `ssh_config_${u.name}`), gw.knownHosts, [
    { alias: 'gw', hostName: gw.host, port: gw.port, user: u.name, key: u, extra: ['LogLevel INFO'] },
    { alias: target, hostName: target, port: node.port, user: 'root', key: u, proxyJump: 'gw' },
  ]);
}

interface Running {
  ready: Promise<void>;
  exited: Promise<{ code: number | null; at: number; stderr: string }>;
  kill(): void;
}

/** `ssh` as a ControlMaster to `target` with a command that keeps running, in the foreground. */
function master(cfg: string, target: string, controlPath: string): Running {
  // The remote command reads stdin (kept open, never written): it ends with the session, nothing lingers on the target.
  const child = spawn('ssh', ['-F', cfg, '-o', 'ControlMaster=yes', '-o', `ControlPath=${controlPath}`, target, 'echo ready; exec cat >/dev/null'], {
    stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, SSH_AUTH_SOCK: '' },
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes('ready')) resolve();
    });
    child.once('exit', () => reject(new Error(`ssh exited before it was ready: ${stderr}`)));
  });
  const exited = new Promise<{ code: number | null; at: number; stderr: string }>((resolve) => {
    child.once('exit', (code) => {
      const at = performance.now();
      // stderr may still be draining after 'exit'.
      child.once('close', () => resolve({ code, at, stderr }));
    });
  });
  return { ready, exited, kill: () => child.kill('SIGKILL') };
}

/** Another session through the master's connection only (never a fresh connection). */
function muxed(cfg: string, target: string, controlPath: string, command: string) {
  return sshF(cfg, ['-o', 'ControlMaster=no', '-o', `ControlPath=${controlPath}`, target, command], { timeoutMs: 20_000 });
}

function ended(actor: string, pred: (e: AuditEvent) => boolean = () => true): Promise<AuditEvent> {
  return waitFor(`gateway.ended for ${actor}`, async () => (await gw.audit('gateway.ended')).find((e) => e.actor === actor && pred(e)), 10_000);
}

/** Runs the scenario: a master session, a second session riding in it, then `takeAway`, and returns what the client saw. */
async function scenario(user: string, target: string, takeAway: (u: UserKey) => Promise<void>) {
  const u = await gw.user(user);
  await gw.project(`p-${user}`, [user]);
  await gw.target({ name: target, project: `p-${user}`, host: '127.0.0.1', port: node.port, loginUser: 'root' });
  const cfg = configFor(u, target);
  const cp = join(gw.dir, `cm-${user}`);
  const m = master(cfg, target, cp);
  try {
    await m.ready;
    const second = await muxed(cfg, target, cp, 'echo second');
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /second/);
    await takeAway(u);
    const changedAt = performance.now();
    const exit = await Promise.race([m.exited, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the master session was not ended')), 15_000))]);
    const elapsed = exit.at - changedAt;
    assert.ok(elapsed < WITHIN_MS, `ended ${Math.round(elapsed)} ms after the change`);
    assert.notEqual(exit.code, 0);
    const third = await muxed(cfg, target, cp, 'echo third');
    assert.notEqual(third.code, 0, 'no session rides in the ended master any more');
    assert.doesNotMatch(third.stdout, /third/);
    return { exit, elapsed, cfg, u };
  } finally {
    m.kill();
  }
}

test('airlock admin certs revoke ends a ControlMaster session on a target within a second, with the reason shown and audited', async (t) => {
  const { exit, cfg, elapsed } = await scenario('ann', 'job-ann', async (u) => {
    const r = await airlock(['admin', '--data-dir', gw.dataDir, 'certs', 'revoke', u.serial.toString()]);
    assert.equal(r.code, 0, r.stderr);
  });
  t.diagnostic(`ended ${Math.round(elapsed)} ms after the revocation`);
  assert.match(exit.stderr, /Received disconnect from .*: Your certificate has been revoked/);
  const e = await ended('ann');
  assert.equal(e.details.scope, 'connection');
  assert.equal(e.details.reason, 'revoked');
  assert.deepEqual(e.details.channels, ['job-ann']);
  // A fresh connection with the revoked certificate is refused at login.
  const again = await sshF(cfg, ['job-ann', 'echo again']);
  assert.notEqual(again.code, 0);
});

test('the CA revoking all of a user\'s certificates ends their live sessions within a second', async (t) => {
  const { exit, elapsed } = await scenario('ben', 'job-ben', async () => {
    const user = (await gw.server.core.store.users.byName('ben'))!;
    await gw.server.core.ca.revokeAllOfUser(user, { actor: 'test' });
  });
  t.diagnostic(`ended ${Math.round(elapsed)} ms after the revocation`);
  assert.match(exit.stderr, /Your certificate has been revoked/);
  assert.equal((await ended('ben')).details.reason, 'revoked');
});

test('airlock admin user disable ends the user\'s live sessions within a second', async (t) => {
  const { exit, elapsed } = await scenario('cid', 'job-cid', async () => {
    const r = await airlock(['admin', '--data-dir', gw.dataDir, 'user', 'disable', 'cid']);
    assert.equal(r.code, 0, r.stderr);
  });
  t.diagnostic(`ended ${Math.round(elapsed)} ms after the user was disabled`);
  assert.match(exit.stderr, /Received disconnect from .*: (Your account is disabled|Your certificate has been revoked)/);
  const e = await ended('cid');
  assert.ok(e.details.reason === 'user_disabled' || e.details.reason === 'revoked', String(e.details.reason));
});

test('airlock admin target remove closes the channel to it within a second and says which target went', async (t) => {
  const { exit, elapsed } = await scenario('dot', 'job-1234', async () => {
    const r = await airlock(['admin', '--data-dir', gw.dataDir, 'target', 'remove', 'job-1234']);
    assert.equal(r.code, 0, r.stderr);
  });
  t.diagnostic(`ended ${Math.round(elapsed)} ms after the removal`);
  assert.match(exit.stderr, /Received disconnect from .*: Target job-1234 was removed or is no longer open to you/);
  const e = await ended('dot');
  assert.equal(e.details.scope, 'channel');
  assert.equal(e.details.reason, 'not_a_target');
  assert.equal(e.details.target, 'job-1234');
});

test('a target that expires ends its channel on time, with no database change', async (t) => {
  const u = await gw.user('eve');
  await gw.project('p-eve', ['eve']);
  const expiresAt = Date.now() + 4_000;
  await gw.target({ name: 'job-eve', project: 'p-eve', host: '127.0.0.1', port: node.port, loginUser: 'root', expiresAt });
  const cfg = configFor(u, 'job-eve');
  const m = master(cfg, 'job-eve', join(gw.dir, 'cm-eve'));
  try {
    await m.ready;
    const exit = await Promise.race([m.exited, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('not ended at expiry')), 15_000))]);
    const late = exit.at - (expiresAt - Date.now() + performance.now());
    assert.ok(late < WITHIN_MS, `ended ${Math.round(late)} ms after the expiry`);
    assert.ok(late > -200, `ended ${Math.round(-late)} ms before the expiry`);
    t.diagnostic(`ended ${Math.round(late)} ms after the expiry`);
    assert.match(exit.stderr, /Target job-eve has expired/);
    const e = await ended('eve');
    assert.equal(e.details.reason, 'target_expired');
  } finally {
    m.kill();
  }
});
