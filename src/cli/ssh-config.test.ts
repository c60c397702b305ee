import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { GATEWAY_ALIAS, configPath, generateSshConfig, hostAliases, knownHostsHost, proxyCommand, sshConfigPaths, type SshConfigInput } from './ssh-config.ts';

const TESTDATA = join(dirname(fileURLToPath(import.meta.url)), 'testdata');
const GW_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ45mEw6t+5yl2hePPhibeF4O5crnKjoVg8Z2fOo4T28 airlock-gw';
const CA_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDAvdu3vHTZqkHVNskVhOGeMRfzpLp1JUvbAvIwuZNfh airlock-host-ca';

function input(home: string, overrides: Partial<SshConfigInput> = {}): SshConfigInput {
  return {
    server: 'https://airlock.example.org',
    user: 'alice',
    gateway: { host: 'gw.example.org', port: 2222, hostKey: GW_KEY },
    hostCaKey: CA_KEY,
    targets: [
      { name: 'my-vm', port: 22, login_user: 'ubuntu', project: 'genomics' },
      { name: 'gpu-node', port: 2200, login_user: null, project: 'genomics' },
    ],
    identityFile: join(home, '.ssh', 'airlock-key'),
    certificateFile: join(home, '.ssh', 'airlock-key-cert.pub'),
    paths: sshConfigPaths(home),
    ...overrides,
  };
}

/** Compares with a golden file; `UPDATE_GOLDEN=1 node --test …` rewrites them after a deliberate change. */
function golden(name: string, actual: string): void {
  const path = join(TESTDATA, name);
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(path, actual);
  assert.equal(actual, readFileSync(path, 'utf8'), `${name} differs from the golden file (UPDATE_GOLDEN=1 rewrites it after a deliberate change)`);
}

/** What ssh itself makes of a config for a host (`ssh -G`), as a map of lower-case option to values. */
function sshG(configFile: string, host: string): Map<string, string[]> {
  const r = spawnSync('ssh', ['-F', configFile, '-G', host], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const m = new Map<string, string[]>();
  for (const line of r.stdout.split('\n')) {
    const [k, ...v] = line.split(' ');
    if (!k) continue;
    m.set(k, [...(m.get(k) ?? []), v.join(' ')]);
  }
  return m;
}

test('the generated config and known_hosts match the golden files', () => {
  const g = generateSshConfig(input('/home/alice'));
  golden('ssh-config.golden', g.config);
  golden('known_hosts.golden', g.knownHosts);
  assert.deepEqual(g.hosts, [GATEWAY_ALIAS, 'gpu-node', 'my-vm']);
  assert.deepEqual(g.skipped, []);
  assert.deepEqual(hostAliases(g.config), g.hosts);
});

test('for Windows OpenSSH (no ControlMaster, no sh): targets keep a plain ProxyJump', () => {
  const g = generateSshConfig(input('/home/alice', { windows: true }));
  golden('ssh-config-windows.golden', g.config);
  assert.doesNotMatch(g.config, /ProxyCommand/);
  // A home with a single quote cannot sit inside `sh -c '…'`: the plain hop there too.
  const quoted = generateSshConfig(input("/home/o'brien"));
  assert.doesNotMatch(quoted.config, /ProxyCommand/);
  assert.match(quoted.config, /^ {4}ProxyJump airlock-gateway$/m);
});

test('with no targets: only the gateway, and no @cert-authority line', () => {
  const g = generateSshConfig(input('/home/alice', { targets: [] }));
  golden('ssh-config-no-targets.golden', g.config);
  assert.doesNotMatch(g.knownHosts, /@cert-authority/);
  assert.deepEqual(g.hosts, [GATEWAY_ALIAS]);
});

test('ssh reads the generated config as intended (ssh -G)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-sshcfg-'));
  try {
    const home = join(dir, 'my home');
    const g = generateSshConfig(input(home));
    const file = join(dir, 'config');
    writeFileSync(file, g.config);
    const vm = sshG(file, 'my-vm');
    assert.deepEqual(vm.get('hostname'), ['my-vm']);
    assert.deepEqual(vm.get('user'), ['ubuntu']);
    assert.deepEqual(vm.get('port'), ['22']);
    // The hop is `ssh -W` through the gateway alias, with this very file (a space in the home survives).
    assert.deepEqual(vm.get('proxycommand'), [proxyCommand(configPath(join(home, '.ssh', 'airlock', 'config'))).slice('ProxyCommand '.length)]);
    assert.equal(vm.get('proxyjump'), undefined);
    assert.deepEqual(vm.get('identitiesonly'), ['yes']);
    assert.deepEqual(vm.get('forwardagent'), ['no']);
    // No master of its own: ControlPersist on a target sends the proxy's stderr, and every refusal, to /dev/null.
    assert.deepEqual(vm.get('controlmaster'), ['false']);
    assert.equal(vm.get('controlpath'), undefined);
    // The space in the home directory survives quoting.
    assert.deepEqual(vm.get('identityfile'), [join(home, '.ssh', 'airlock-key')]);
    assert.deepEqual(vm.get('certificatefile'), [join(home, '.ssh', 'airlock-key-cert.pub')]);
    assert.deepEqual(vm.get('userknownhostsfile'), [`${join(home, '.ssh', 'known_hosts')} ${join(home, '.ssh', 'airlock', 'known_hosts')}`]);
    const node = sshG(file, 'gpu-node');
    assert.deepEqual(node.get('user'), ['alice'], 'no login account: the Airlock user name');
    assert.deepEqual(node.get('port'), ['2200']);
    const gw = sshG(file, GATEWAY_ALIAS);
    const cp = gw.get('controlpath')![0]!;
    assert.ok(cp.startsWith(join(home, '.ssh', 'airlock', 'cm-')), cp);
    assert.match(cp.slice(join(home, '.ssh', 'airlock', 'cm-').length), /^[0-9a-f]{40}$/, 'one hash per user, host and port');
    assert.deepEqual(gw.get('controlmaster'), ['auto']);
    assert.deepEqual(gw.get('controlpersist'), ['600']);
    assert.deepEqual(gw.get('hostname'), ['gw.example.org']);
    assert.deepEqual(gw.get('port'), ['2222']);
    assert.deepEqual(gw.get('user'), ['alice']);
    assert.deepEqual(gw.get('stricthostkeychecking'), ['true']);
    assert.equal(gw.get('proxyjump'), undefined);
    // Other hosts are untouched by the file.
    const other = sshG(file, 'github.com');
    assert.equal(other.get('proxyjump'), undefined);
    assert.equal(other.get('certificatefile'), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an e-mail style user: ssh logs in to the gateway as bob@uni.example and to targets as bob_uni.example (ssh -G)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-sshcfg-'));
  try {
    const g = generateSshConfig(input(join(dir, 'home'), { user: 'bob@uni.example' }));
    const file = join(dir, 'config');
    writeFileSync(file, g.config);
    assert.deepEqual(sshG(file, GATEWAY_ALIAS).get('user'), ['bob@uni.example']);
    assert.deepEqual(sshG(file, 'gpu-node').get('user'), ['bob_uni.example'], 'no login account: the account the name maps to');
    assert.deepEqual(sshG(file, 'my-vm').get('user'), ['ubuntu']);
    assert.throws(() => generateSshConfig(input(join(dir, 'home'), { user: 'bob@uni.example\n  ProxyCommand x' })), /cannot be written into an ssh config/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ssh-keygen finds the gateway key and the CA line in the generated known_hosts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-sshcfg-'));
  try {
    const g = generateSshConfig(input('/home/alice'));
    const file = join(dir, 'known_hosts');
    writeFileSync(file, g.knownHosts);
    const gw = spawnSync('ssh-keygen', ['-F', '[gw.example.org]:2222', '-f', file], { encoding: 'utf8' });
    assert.equal(gw.status, 0, gw.stderr);
    assert.match(gw.stdout, /AAAAC3NzaC1lZDI1NTE5AAAAIJ45mEw6t\+5yl2hePPhibeF4O5crnKjoVg8Z2fOo4T28/);
    assert.match(g.knownHosts, /^@cert-authority \[gpu-node\]:2200,my-vm ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDAvdu3vHTZqkHVNskVhOGeMRfzpLp1JUvbAvIwuZNfh$/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('targets the server sends with unsafe values are skipped, never written', () => {
  const g = generateSshConfig(input('/home/alice', {
    targets: [
      { name: 'ok', port: 22, login_user: null },
      { name: 'evil\n    ProxyCommand touch /tmp/pwned', port: 22, login_user: null },
      { name: 'star*', port: 22, login_user: null },
      { name: 'badport', port: 70000, login_user: null },
      { name: 'baduser', port: 22, login_user: 'root\nProxyCommand x' },
      { name: GATEWAY_ALIAS, port: 22, login_user: null },
      { name: 'ok', port: 23, login_user: null },
    ],
  }));
  assert.deepEqual(g.hosts, [GATEWAY_ALIAS, 'ok']);
  assert.equal(g.skipped.length, 6);
  // The one ProxyCommand is the generator's own (the same for every target).
  assert.doesNotMatch(g.config.replace(`    ${proxyCommand('/home/alice/.ssh/airlock/config')}\n`, ''), /ProxyCommand|pwned|star\*/);
});

test('an unusable gateway host, port or key from the server is refused', () => {
  assert.throws(() => generateSshConfig(input('/home/alice', { gateway: { host: 'gw.example.org\nProxyCommand x', port: 22, hostKey: GW_KEY } })), /unusable gateway host/);
  assert.throws(() => generateSshConfig(input('/home/alice', { gateway: { host: 'gw.example.org', port: 0, hostKey: GW_KEY } })), /unusable gateway port/);
  assert.throws(() => generateSshConfig(input('/home/alice', { gateway: { host: 'gw.example.org', port: 22, hostKey: 'ssh-ed25519 AAAA\nHost *' } })), /unusable gateway host key/);
  assert.throws(() => generateSshConfig(input('/home/alice', { hostCaKey: 'nonsense' })), /unusable host CA key/);
});

test('IPv6 gateway addresses and port 22 give the known_hosts forms ssh looks up', () => {
  assert.equal(knownHostsHost('gw', 22), 'gw');
  assert.equal(knownHostsHost('gw', 2222), '[gw]:2222');
  const g = generateSshConfig(input('/home/alice', { gateway: { host: '2001:db8::1', port: 22, hostKey: GW_KEY } }));
  assert.match(g.knownHosts, /^2001:db8::1 ssh-ed25519 /m);
  assert.match(g.config, /HostName 2001:db8::1\n/);
});

test('configPath: absolute only; quotes, backslashes, % and control characters refused; spaces quoted', () => {
  assert.equal(configPath('/home/a/.ssh/k'), '/home/a/.ssh/k');
  assert.equal(configPath('/home/a b/k'), '"/home/a b/k"');
  assert.equal(configPath('/home/a b', '/cm-%C'), '"/home/a b/cm-%C"');
  assert.equal(configPath('C:\\Users\\a\\.ssh\\k'), 'C:/Users/a/.ssh/k');
  assert.throws(() => configPath('relative/k'), /not absolute/);
  for (const bad of ['/home/a"b', '/home/a\\b', '/home/a\nb', '/home/a\tb', '/home/100%']) assert.throws(() => configPath(bad), /quote, backslash, % or control/);
});

test('property: whatever the server sends as targets, every line of the config is a comment, a Host line or a known option', () => {
  const proxy = proxyCommand('/home/alice/.ssh/airlock/config').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const allowed = new RegExp(String.raw`^(#.*|Host [a-z0-9-]+| {4}(# .*|HostName \S+|Port \d+|User [a-z_][a-z0-9_.-]*|ProxyJump airlock-gateway|${proxy}|IdentityFile \S+|CertificateFile \S+|IdentitiesOnly yes|ControlMaster (auto|no)|ControlPath \S+|ControlPersist 10m|ForwardAgent no|UserKnownHostsFile \S+( \S+)?|StrictHostKeyChecking yes)|)$`);
  fc.assert(fc.property(
    fc.array(fc.record({ name: fc.string({ maxLength: 20 }), port: fc.integer({ min: -5, max: 70000 }), login_user: fc.option(fc.string({ maxLength: 10 })), project: fc.option(fc.string({ maxLength: 10 })) }), { maxLength: 8 }),
    (targets) => {
      const g = generateSshConfig(input('/home/alice', { targets }));
      for (const line of g.config.split('\n')) assert.match(line, allowed);
      for (const line of g.knownHosts.trim().split('\n')) assert.match(line, /^(#.*|\[gw\.example\.org\]:2222 ssh-ed25519 \S+|@cert-authority [a-z0-9,[\]:-]+ ssh-ed25519 \S+)$/);
    },
  ), { numRuns: 300 });
});
