/**
 * Checklist item 14: no password, one-time code, recovery code, token or private key in any log line,
 * CLI output, database file or process argument; CA keys 0600 and refused when others can read them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync, readdirSync, statSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAirlock, airlock } from '../harness/airlock.ts';
import { currentTotp } from '../../src/identity/totp.ts';

const PASSWORD = 'Sup3r secret pass phrase';

test('a full sign-in leaves no secret in logs, output or the database', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-secrets-'));
  const home = join(dir, 'home');
  const env = { HOME: home, XDG_CONFIG_HOME: join(home, '.config') };
  const server = await startAirlock(join(dir, 'data'));
  try {
    const add = await server.admin(['user', 'add', 'alice', '--password-stdin', '--json'], { input: PASSWORD + '\n' });
    assert.equal(add.code, 0, add.stderr);
    const { totp_uri, recovery_codes } = JSON.parse(add.stdout) as { totp_uri: string; recovery_codes: string[] };
    const secret = new URL(totp_uri).searchParams.get('secret')!;
    // A wrong attempt first, so that failure paths are logged too.
    const bad = await airlock(['login', '--server', server.httpUrl, '--user', 'alice', '--password-stdin', '--otp', recovery_codes[0]!.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'))], { input: 'Wrong but long password\n', env });
    assert.notEqual(bad.code, 0);
    const code = currentTotp(secret, Date.now());
    const login = await airlock(['login', '--server', server.httpUrl, '--user', 'alice', '--password-stdin', '--otp', code], { input: PASSWORD + '\n', env });
    assert.equal(login.code, 0, login.stderr);
    const recovery = await airlock(['login', '--server', server.httpUrl, '--user', 'alice', '--password-stdin', '--otp', recovery_codes[1]!], { input: PASSWORD + '\n', env });
    assert.equal(recovery.code, 0, recovery.stderr);
    const list = await airlock(['certs', 'list'], { env });
    const audit = await server.admin(['audit', '--json']);
    assert.equal(audit.code, 0, audit.stderr);

    const session = JSON.parse(readFileSync(join(home, '.config', 'airlock', 'session.json'), 'utf8')) as { token: string };
    const privateKeyBody = readFileSync(join(home, '.ssh', 'airlock-key'), 'utf8').split('\n').slice(1, -2).join('');
    const secrets = { password: PASSWORD, totp: secret, code, recovery0: recovery_codes[0]!, recovery1: recovery_codes[1]!, token: session.token, privateKey: privateKeyBody.slice(0, 40) };

    const dataDir = join(dir, 'data');
    const dbBytes = readdirSync(dataDir).filter((f) => f.startsWith('airlock.db')).map((f) => readFileSync(join(dataDir, f)).toString('latin1')).join('');
    const places: Record<string, string> = {
      'server log': server.logs(),
      'login output': bad.stdout + bad.stderr + login.stdout + login.stderr + recovery.stdout + recovery.stderr + list.stdout + list.stderr,
      'audit log': audit.stdout,
      database: dbBytes,
    };
    for (const [place, text] of Object.entries(places)) {
      for (const [name, value] of Object.entries(secrets)) {
        // The TOTP secret is stored in the database by design (it must be to verify codes).
        if (place === 'database' && name === 'totp') continue;
        assert.ok(!text.includes(value), `${name} found in ${place}`);
      }
    }
    assert.ok(server.logs().includes('auth.password_totp'), 'the server did log the sign-ins');

    // CA keys: 0600 in a 0700 directory; a key that others can read is refused with a clear message.
    const caDir = join(dataDir, 'ca');
    assert.equal(statSync(caDir).mode & 0o777, 0o700);
    for (const f of readdirSync(caDir)) assert.equal(statSync(join(caDir, f)).mode & 0o777, 0o600, f);
    await server.stop();
    chmodSync(join(caDir, 'user_ca.pem'), 0o644);
    const refused = await airlock(['admin', '--data-dir', dataDir, 'user', 'list']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /readable by others.*chmod 600/);
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('passwords are never taken from the command line', async () => {
  const r = await airlock(['login', '--server', 'http://127.0.0.1:9', '--user', 'alice', '--password', 'x']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /unknown option '--password'/);
});
