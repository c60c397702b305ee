/**
 * From nothing to `ssh vm1`, with the real `airlock` binary in a temporary HOME: `airlock login` writes
 * key, certificate and (by running `airlock config`) the ssh config; then plain `ssh vm1 true` goes
 * through the gateway with no prompt at all (no controlling terminal: a prompt would fail), and a
 * second ssh reuses the gateway's master connection. Also: the Include line is idempotent and kept first, the
 * user's own config survives (with a backup), `airlock hosts`, `airlock ssh`, `--dry-run`.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AIRLOCK_BIN } from '../harness/airlock.ts';
import { startCliWorld, runDetached, SERVICE_TOKEN, type CliWorld } from './cli-fixture.ts';

let w: CliWorld;
const USER_CONFIG = 'Host *\n    ServerAliveInterval 42\n\nHost old-box\n    HostName old.example.org\n';

before(async () => {
  w = await startCliWorld();
  // The researcher already has an ssh config of their own.
  mkdirSync(join(w.home, '.ssh'), { mode: 0o700 });
  writeFileSync(join(w.home, '.ssh', 'config'), USER_CONFIG, { mode: 0o644 });
});

after(async () => {
  await w?.stop();
});

const ssh = (args: string[]) => runDetached('ssh', ['-F', w.sshConfig, ...args], w.env());
const acceptedLogins = (): number => w.node.logs().split('\n').filter((l) => l.startsWith('Accepted publickey for root')).length;

test('airlock login writes the ssh config; plain ssh vm1 works with no prompt and the second ssh reuses the master', async (t) => {
  const login = await w.login();
  assert.equal(login.code, 0, login.stderr);
  assert.match(login.stderr, /Wrote .*\.ssh\/airlock\/config: the gateway as "airlock-gateway" and 1 target\(s\): vm1\./);
  assert.match(login.stderr, /Added "Include .*" at the top of .*\.ssh\/config \(backup: .*config\.airlock-backup\)/);

  await t.test('files: 0600 in a 0700 directory, Include first, the user\'s config kept and backed up', () => {
    const dir = join(w.home, '.ssh', 'airlock');
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    for (const f of ['config', 'known_hosts']) assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, f);
    const user = readFileSync(w.sshConfig, 'utf8');
    const directives = user.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));
    assert.equal(directives[0], `Include ${join(dir, 'config')}`);
    assert.ok(user.endsWith(USER_CONFIG), 'the old text follows unchanged');
    assert.equal(statSync(w.sshConfig).mode & 0o777, 0o644, 'the user\'s file keeps its mode');
    assert.equal(readFileSync(join(w.home, '.ssh', 'config.airlock-backup'), 'utf8'), USER_CONFIG);
    const known = readFileSync(join(dir, 'known_hosts'), 'utf8');
    assert.match(known, new RegExp(`^\\[127\\.0\\.0\\.1\\]:${w.gw.port} ssh-ed25519 `, 'm'));
    assert.match(known, new RegExp(`^@cert-authority \\[vm1\\]:${w.node.port} ssh-ed25519 `, 'm'));
  });

  await t.test('ssh vm1 true: through the gateway, no prompt, nothing learned on first use', async () => {
    const r = await ssh(['vm1', 'true']);
    assert.equal(r.code, 0, r.stderr + w.node.logs());
    assert.equal(r.stderr, '', 'no warning, no "Permanently added" (the host CA vouches for vm1)');
    assert.equal(existsSync(join(w.home, '.ssh', 'known_hosts')), false, 'nothing was trusted on first use');
    assert.equal(acceptedLogins(), 1);
  });

  await t.test('a second ssh reuses the gateway\'s master connection: no new login at the gateway', async () => {
    const check = await ssh(['-O', 'check', 'airlock-gateway']);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stderr, /Master running/);
    const r = await ssh(['vm1', 'echo second-$(id -un)']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'second-root');
    const gatewayLogins = (await w.gw.audit('gateway.auth')).filter((e) => e.actor === 'alice' && e.outcome === 'success');
    assert.equal(gatewayLogins.length, 1, 'the gateway saw one login for two commands (one browser approval per ControlPersist period)');
    // Targets have no master of their own (ControlPersist there would hide every refusal): each ssh logs in there with the certificate.
    assert.equal(acceptedLogins(), 2);
  });

  await t.test('the ControlPath sockets fit the Unix socket limit', async () => {
    const g = await runDetached('ssh', ['-F', w.sshConfig, '-G', 'airlock-gateway'], w.env());
    const cp = /^controlpath (.*)$/m.exec(g.stdout)![1]!;
    assert.ok(Buffer.byteLength(cp) + 17 < 108, `${cp} is too long for a socket (ssh adds 17 characters while creating it)`);
  });

  await ssh(['-O', 'exit', 'airlock-gateway']);
});

test('airlock config again: same files, the Include neither duplicated nor backed up again', async () => {
  const before = readFileSync(w.sshConfig, 'utf8');
  const backup = readFileSync(join(w.home, '.ssh', 'config.airlock-backup'), 'utf8');
  const r = await w.cli(['config', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout) as { include_changed: boolean; hosts: string[]; backup_path: string | null };
  assert.equal(result.include_changed, false);
  assert.equal(result.backup_path, null);
  assert.deepEqual(result.hosts, ['airlock-gateway', 'vm1']);
  assert.equal(readFileSync(w.sshConfig, 'utf8'), before);
  assert.equal(readFileSync(join(w.home, '.ssh', 'config.airlock-backup'), 'utf8'), backup);
  assert.match(r.stderr, /already includes it/);
});

test('an Include that slipped below a Host line is moved back to the top by airlock config', async () => {
  const owned = join(w.home, '.ssh', 'airlock', 'config');
  writeFileSync(w.sshConfig, `Host *\n    User mallory\nInclude ${owned}\n`);
  const r = await w.cli(['config']);
  assert.equal(r.code, 0, r.stderr);
  const text = readFileSync(w.sshConfig, 'utf8');
  assert.equal(text.split('\n').filter((l) => l.startsWith('Include ')).length, 1);
  assert.equal(text.split('\n').find((l) => l.trim() && !l.startsWith('#')), `Include ${owned}`);
  const g = await runDetached('ssh', ['-F', w.sshConfig, '-G', 'vm1'], w.env());
  assert.match(g.stdout, /^user root$/m, 'Airlock\'s User wins again');
});

test('airlock config --dry-run prints the files and changes nothing', async () => {
  const owned = join(w.home, '.ssh', 'airlock', 'config');
  const before = readFileSync(owned, 'utf8');
  writeFileSync(w.sshConfig, 'Host x\n    Port 2\n');
  const r = await w.cli(['config', '--dry-run']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.includes(`# ---- ${owned} ----\n${before}`));
  assert.match(r.stdout, /would become ----\n# Added by `airlock config`/);
  assert.equal(readFileSync(w.sshConfig, 'utf8'), 'Host x\n    Port 2\n', 'untouched');
  assert.match(r.stderr, /Would add "Include /);
  assert.equal((await w.cli(['config'])).code, 0);
});

test('airlock hosts lists vm1 with its services; --json has the commands and the URL', async () => {
  const text = await w.cli(['hosts']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^NAME\s+PROJECT\s+LOGIN\s+ADDRESS\s+SERVICES\s+EXPIRES$/m);
  assert.match(text.stdout, new RegExp(`^vm1\\s+genomics\\s+root\\s+127\\.0\\.0\\.1:${w.node.port}\\s+idle:${w.idlePort},jupyter:${w.web.port}\\s+-$`, 'm'));
  const json = await w.cli(['hosts', '--json']);
  const hosts = JSON.parse(json.stdout) as { name: string; ssh_command: string; services: { name: string; tunnel_command: string; url: string | null }[] }[];
  assert.equal(hosts[0]!.ssh_command, 'ssh vm1');
  const jupyter = hosts[0]!.services.find((s) => s.name === 'jupyter')!;
  assert.equal(jupyter.tunnel_command, 'airlock tunnel vm1 jupyter');
  assert.equal(jupyter.url, `http://127.0.0.1:${w.web.port}/lab?token=${SERVICE_TOKEN}`);
});

test('airlock ssh vm1 -- command runs the system ssh with the generated config; unknown targets are refused', async () => {
  const r = await runDetached(process.execPath, [AIRLOCK_BIN, 'ssh', 'vm1', '--', '-o', 'ControlMaster=no', 'echo via-airlock-$(id -un)'], w.env());
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'via-airlock-root');
  const failing = await runDetached(process.execPath, [AIRLOCK_BIN, 'ssh', 'vm1', '--', '-o', 'ControlMaster=no', 'exit 3'], w.env());
  assert.equal(failing.code, 3, 'the remote exit code is passed on');
  const unknown = await w.cli(['ssh', 'nope']);
  assert.equal(unknown.code, 5);
  assert.match(unknown.stderr, /"nope" is not one of your targets; airlock hosts lists them\./);
});

test('a target added later is picked up: airlock ssh rewrites the config when the name is new', async () => {
  await w.gw.target({ name: 'vm2', project: 'genomics', host: '127.0.0.1', port: w.node.port, loginUser: 'root' });
  try {
    const r = await w.cli(['ssh', 'vm2', '--', '-o', 'ControlMaster=no', '-o', 'StrictHostKeyChecking=no', 'true']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Updating your ssh config first/);
    assert.match(readFileSync(join(w.home, '.ssh', 'airlock', 'config'), 'utf8'), /^Host vm2$/m);
  } finally {
    await w.gw.server.core.inventory.removeTarget('vm2', { name: 'test', clientAddress: null });
    assert.equal((await w.cli(['config'])).code, 0);
  }
});
