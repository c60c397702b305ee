/**
 * What docs/operators/compute-nodes.md promises about names, checked with real sshd and ssh
 * (issue 11 item 8):
 * - a host certificate must list the name researchers type: with the config `airlock config` writes,
 *   `ssh j-1234567` to a node certified only as node17 fails ("name is not a listed principal"), and
 *   works once `airlock admin host-cert --targets j-1234567` certified it;
 * - once AuthorizedPrincipalsFile is set, an account without a principals file accepts no certificate
 *   (there is no fallback to "the account name is a principal"); its own file lets it in.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { airlock } from '../harness/airlock.ts';
import { run } from '../harness/processes.ts';
import { startSshd, type TestSshd } from '../harness/sshd.ts';
import { startCliWorld, runDetached, type CliWorld } from './cli-fixture.ts';

let w: CliWorld;
let node17: TestSshd | undefined;
const ADMIN_ENV = { AIRLOCK_HTTP_LISTEN: '127.0.0.1:0' };
const ACTOR = { name: 'test', clientAddress: null };

before(async () => {
  w = await startCliWorld();
});

after(async () => {
  await runDetached('ssh', ['-F', w.sshConfig, '-O', 'exit', 'j-1234567'], w.env(), 10_000).catch(() => undefined);
  await node17?.stop();
  await w?.stop();
});

const admin = (args: string[]) => airlock(['admin', '--data-dir', w.gw.dataDir, ...args], { env: ADMIN_ENV });

/** Starts node17's sshd with a host certificate made by `airlock admin host-cert ARGS`, and (re)registers j-1234567 on it. */
async function startNode17(dir: string, hostCertArgs: string[]): Promise<TestSshd> {
  const hostKey = join(dir, 'ssh_host_ed25519_key');
  const cert = await admin(['host-cert', ...hostCertArgs, `${hostKey}.pub`]);
  assert.equal(cert.code, 0, cert.stderr);
  writeFileSync(`${hostKey}-cert.pub`, cert.stdout);
  const cfg = await admin(['sshd-config', '--output-dir', dir, '--account', 'root=alice']);
  assert.equal(cfg.code, 0, cfg.stderr);
  const sshd = await startSshd(dir, [...cfg.stdout.trim().split('\n'), `HostCertificate ${hostKey}-cert.pub`]);
  await w.gw.server.core.inventory.removeTarget('j-1234567', ACTOR).catch(() => undefined);
  await w.gw.target({ name: 'j-1234567', project: 'genomics', host: '127.0.0.1', port: sshd.port, loginUser: 'root' });
  return sshd;
}

test('ssh j-1234567 needs the target name in the host certificate: host-cert --targets puts it there', async () => {
  const dir = join(w.gw.dir, 'node17');
  mkdirSync(dir, { recursive: true });
  const keygen = await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'ssh_host_ed25519_key')]);
  assert.equal(keygen.code, 0, keygen.stderr);

  // The node's own name only, as the walk-through did: ssh refuses the certificate for the job's name.
  node17 = await startNode17(dir, ['--principals', 'node17']);
  const login = await w.login();
  assert.equal(login.code, 0, login.stderr);
  const refused = await runDetached('ssh', ['-F', w.sshConfig, 'j-1234567', 'true'], w.env());
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /Certificate invalid: name is not a listed principal/);

  const missing = await admin(['host-cert', '--targets', 'j-0000000', join(dir, 'ssh_host_ed25519_key.pub')]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /There is no target named j-0000000/);
  const none = await admin(['host-cert', join(dir, 'ssh_host_ed25519_key.pub')]);
  assert.notEqual(none.code, 0);
  assert.match(none.stderr, /--principals NAMES, --targets TARGETS or both/);

  await node17.stop();
  node17 = await startNode17(dir, ['--principals', 'node17', '--targets', 'j-1234567']);
  const listed = await run('ssh-keygen', ['-L', '-f', join(dir, 'ssh_host_ed25519_key-cert.pub')]);
  assert.match(listed.stdout, /Principals: \n\s+node17\n\s+j-1234567\n\s+127\.0\.0\.1\n/, listed.stdout);
  const config = await w.cli(['config']);
  assert.equal(config.code, 0, config.stderr);
  const reached = await runDetached('ssh', ['-F', w.sshConfig, 'j-1234567', 'echo reached-$(id -un)'], w.env());
  assert.equal(reached.code, 0, reached.stderr + node17.logs());
  assert.match(reached.stdout, /reached-root/);
  assert.equal(reached.stderr, '', 'no warning and no trust-on-first-use: the host CA vouches for j-1234567');
});

test('with AuthorizedPrincipalsFile, an account without a principals file accepts no certificate', async () => {
  // An Airlock user named root: its certificate's principal is the account name, which without
  // AuthorizedPrincipalsFile would be enough. The sshd below has files for other accounts only.
  const root = await w.gw.user('root');
  const dir = join(w.gw.dir, 'node-principals');
  const cfg = await admin(['sshd-config', '--output-dir', dir, '--account', 'ubuntu=alice']);
  assert.equal(cfg.code, 0, cfg.stderr);
  assert.match(cfg.stdout, /^AuthorizedPrincipalsFile .*\/principals\/%u$/m);
  const sshd = await startSshd(dir, cfg.stdout.trim().split('\n'));
  try {
    const ssh = () => run('ssh', [
      '-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR',
      '-i', root.key, '-o', `CertificateFile=${root.cert}`, '-o', 'IdentitiesOnly=yes', '-p', String(sshd.port), 'root@127.0.0.1', 'echo in-as-$(id -un)',
    ], { env: { ...process.env, SSH_AUTH_SOCK: '' } });
    const refused = await ssh();
    assert.equal(refused.code, 255, refused.stdout);
    assert.match(sshd.logs(), /Certificate does not contain an authorized principal/);

    // The documented fix: a file for the account, listing the principal (sshd reads it at each login).
    const again = await admin(['sshd-config', '--output-dir', dir, '--account', 'ubuntu=alice', '--account', 'root=root']);
    assert.equal(again.code, 0, again.stderr);
    const accepted = await ssh();
    assert.equal(accepted.code, 0, accepted.stderr + sshd.logs());
    assert.match(accepted.stdout, /in-as-root/);
  } finally {
    await sshd.stop();
  }
});
