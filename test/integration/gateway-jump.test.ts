/**
 * The gateway end to end with the stock OpenSSH client and a real sshd target that trusts Airlock's CA:
 * ProxyJump by target name and by address, `-L` tunnels to an HTTP service fetched with curl, the lobby,
 * ControlMaster carrying several sessions over one gateway connection, revocation while connected,
 * agent and remote forwarding refused, and the published trust material.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { airlock } from '../harness/airlock.ts';
import { freePort, run, startProcess, stopProcess, waitFor } from '../harness/processes.ts';
import type { TestSshd } from '../harness/sshd.ts';
import { sshF, startHttpService, startTargetSshd, startTestGateway, writeSshConfig, type TestGateway, type UserKey } from '../harness/gateway.ts';
import type { AuditEvent } from '../../src/store/repositories.ts';

let gw: TestGateway;
let node: TestSshd;
let web: Awaited<ReturnType<typeof startHttpService>>;
let alice: UserKey;
let carol: UserKey;
let cfg: string;

const SERVICE_TOKEN = 'tok-3f9a';

before(async () => {
  gw = await startTestGateway({ AIRLOCK_GATEWAY_ALLOW_LOOPBACK_TARGETS: '1', AIRLOCK_GATEWAY_PENALTIES: 'off' });
  alice = await gw.user('alice');
  carol = await gw.user('carol');
  await gw.user('bob');
  await gw.project('genomics', ['alice', 'carol']);
  await gw.project('physics', ['bob']);
  node = await startTargetSshd(gw, ['alice', 'bob', 'carol']);
  web = await startHttpService('127.0.0.1');
  await gw.target({ name: 'vm1', project: 'genomics', host: '127.0.0.1', port: node.port, loginUser: 'root', services: [{ name: 'jupyter', port: web.port, path: '/lab', token: SERVICE_TOKEN }] });
  await gw.target({ name: 'vm2', project: 'physics', host: '127.0.0.3', port: node.port, loginUser: 'root' });
  // The target's host key under every name the tests reach it by.
  const [type, b64] = node.hostKeyPub.split(' ');
  appendFileSync(gw.knownHosts, `[vm1]:${node.port},[127.0.0.1]:${node.port} ${type} ${b64}\n`);
  cfg = writeSshConfig(join(gw.dir, 'ssh_config'), gw.knownHosts, [
    { alias: 'gw', hostName: gw.host, port: gw.port, user: 'alice', key: alice },
    // For the commands the lobby prints, which name the gateway by its address.
    { alias: '127.0.0.1', hostName: gw.host, port: gw.port, user: 'alice', key: alice },
    { alias: 'vm1', hostName: 'vm1', port: node.port, user: 'root', key: alice, proxyJump: 'gw' },
    { alias: 'vm1-by-address', hostName: '127.0.0.1', port: node.port, user: 'root', key: alice, proxyJump: 'gw' },
  ]);
});

after(async () => {
  await web?.stop();
  await node?.stop();
  await gw?.stop();
});

/** Waits for an audit event matching `pred` (channel records are written when the channel closes). */
function auditEvent(type: string, pred: (e: AuditEvent) => boolean): Promise<AuditEvent> {
  return waitFor(`audit ${type}`, async () => (await gw.audit(type)).find(pred), 10_000);
}

// Independent of each other (each looks for its own audit records), so they run side by side.
describe('through the gateway', { concurrency: true }, () => {
  test('ssh -J logs in to the target by name and by address, and the channel is audited with bytes and duration', async () => {
    const byName = await sshF(cfg, ['vm1', 'echo logged-in-as-$(id -un)']);
    assert.equal(byName.code, 0, byName.stderr + node.logs());
    assert.match(byName.stdout, /logged-in-as-root/);
    const byAddress = await sshF(cfg, ['vm1-by-address', 'echo again-$(id -un)']);
    assert.equal(byAddress.code, 0, byAddress.stderr);
    assert.match(byAddress.stdout, /again-root/);
    const e = await auditEvent('gateway.channel', (x) => x.details.channel === 'direct-tcpip' && x.details.host === '127.0.0.1' && x.outcome === 'success');
    assert.equal(e.actor, 'alice');
    assert.equal(e.clientAddress, '127.0.0.1');
    assert.equal(e.details.target, 'vm1');
    assert.equal(e.details.port, node.port);
    assert.ok((e.details.bytes_in as number) > 1000 && (e.details.bytes_out as number) > 1000, JSON.stringify(e.details));
    assert.equal(typeof e.details.duration_ms, 'number');
    const byNameEvent = await auditEvent('gateway.channel', (x) => x.details.host === 'vm1' && x.outcome === 'success');
    assert.equal(byNameEvent.details.address, '127.0.0.1');
  });

  test('ssh -L reaches an HTTP service on a target and curl fetches through it', async () => {
    const local = await freePort();
    const tunnel = startProcess('ssh', ['-F', cfg, '-N', '-o', 'ExitOnForwardFailure=yes', '-L', `${local}:vm1:${web.port}`, 'gw'], { env: { ...process.env, SSH_AUTH_SOCK: '' } });
    try {
      const body = await waitFor('the tunnel', async () => {
        const r = await run('curl', ['-s', '--max-time', '5', `http://127.0.0.1:${local}/lab?token=${SERVICE_TOKEN}`]);
        return r.code === 0 && r.stdout ? r.stdout : undefined;
      }, 15_000, 100);
      assert.equal(body, `hello from the service /lab?token=${SERVICE_TOKEN}`);
    } finally {
      await stopProcess(tunnel.child);
    }
    const e = await auditEvent('gateway.channel', (x) => x.details.port === web.port && x.outcome === 'success');
    assert.equal(e.details.target, 'vm1');
  });

  test('the lobby: who you are, your targets, the exact commands; hosts --json; unknown commands exit 2', async () => {
    const text = await sshF(cfg, ['gw']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /signed in as alice with certificate \d+, valid until \d{4}-\d\d-\d\dT[\d:]+Z \((?:1d|23h\d+m) left\)/);
    assert.ok(text.stdout.includes(`ssh -J alice@127.0.0.1:${gw.port} -p ${node.port} root@vm1`), text.stdout);
    assert.ok(text.stdout.includes(`ssh -N -L ${web.port}:vm1:${web.port} -p ${gw.port} alice@127.0.0.1`), text.stdout);
    assert.ok(text.stdout.includes(`http://127.0.0.1:${web.port}/lab?token=${SERVICE_TOKEN}`));
    assert.doesNotMatch(text.stdout, /vm2/, 'another project\'s target is not listed');

    const json = await sshF(cfg, ['gw', 'hosts', '--json']);
    assert.equal(json.code, 0, json.stderr);
    const j = JSON.parse(json.stdout) as { user: string; targets: { name: string; ssh_command: string; services: { url: string }[] }[] };
    assert.equal(j.user, 'alice');
    assert.deepEqual(j.targets.map((t) => t.name), ['vm1']);
    assert.equal(j.targets[0]!.services[0]!.url, `http://127.0.0.1:${web.port}/lab?token=${SERVICE_TOKEN}`);

    // The command printed in the lobby works as printed (with this test's ssh config for keys and known hosts).
    const printed = j.targets[0]!.ssh_command.split(' ');
    assert.deepEqual(printed.slice(0, 2), ['ssh', '-J']);
    const viaPrinted = await sshF(cfg, [...printed.slice(1), 'echo printed-ok']);
    assert.equal(viaPrinted.code, 0, viaPrinted.stderr);
    assert.match(viaPrinted.stdout, /printed-ok/);

    const unknown = await sshF(cfg, ['gw', 'rm', '-rf', '/']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /Unknown command "rm -rf \/"/);

    const pty = await sshF(cfg, ['-tt', 'gw']);
    assert.equal(pty.code, 0, pty.stderr);
    assert.match(pty.stdout, /Your targets \(1\):\r\n/);
  });

  test('agent forwarding: refused and audited at the gateway; SSH_AUTH_SOCK stays unset on the target', async () => {
    const sock = join(gw.dir, 'agent.sock');
    const agent = startProcess('ssh-agent', ['-D', '-a', sock]);
    try {
      await waitFor('ssh-agent', async () => ((await run('ssh-add', ['-l'], { env: { ...process.env, SSH_AUTH_SOCK: sock } })).code === 1 ? true : undefined));
      const add = await run('ssh-add', [alice.key], { env: { ...process.env, SSH_AUTH_SOCK: sock } });
      assert.equal(add.code, 0, add.stderr);
      const env = { SSH_AUTH_SOCK: sock };
      const target = await sshF(cfg, ['-A', '-o', 'ForwardAgent=yes', 'vm1', 'echo "sock=[$SSH_AUTH_SOCK]"'], { env });
      assert.equal(target.code, 0, target.stderr);
      assert.match(target.stdout, /sock=\[\]/);
      const lobby = await sshF(cfg, ['-A', 'gw'], { env });
      assert.equal(lobby.code, 0, lobby.stderr);
      const e = await auditEvent('gateway.refused', (x) => x.details.request === 'auth-agent-req@openssh.com');
      assert.equal(e.actor, 'alice');
      assert.equal(e.outcome, 'denied');
    } finally {
      await stopProcess(agent.child);
    }
  });

  test('remote forwarding (-R) is refused and audited', async () => {
    const r = await sshF(cfg, ['-N', '-o', 'ExitOnForwardFailure=yes', '-R', '0:127.0.0.1:22', 'gw']);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /remote port forwarding failed/i);
    const e = await auditEvent('gateway.refused', (x) => x.details.request === 'tcpip-forward');
    assert.equal(e.actor, 'alice');
  });

  test('ControlMaster carries a second session over one gateway connection; a certificate revoked meanwhile ends it', async () => {
    const cm = writeSshConfig(join(gw.dir, 'ssh_config_cm'), gw.knownHosts, [
      { alias: 'gw', hostName: gw.host, port: gw.port, user: 'carol', key: carol, extra: ['ControlMaster auto', `ControlPath ${join(gw.dir, 'cm-%C')}`, 'ControlPersist 30'] },
      { alias: 'vm1', hostName: 'vm1', port: node.port, user: 'root', key: carol, proxyJump: 'gw' },
    ]);
    const logins = async () => (await gw.audit('gateway.auth')).filter((e) => e.actor === 'carol' && e.outcome === 'success').length;
    try {
      const first = await sshF(cm, ['vm1', 'echo first']);
      assert.equal(first.code, 0, first.stderr);
      const second = await sshF(cm, ['vm1', 'echo second']);
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stdout, /second/);
      assert.equal(await logins(), 1, 'one gateway connection carried both');

      const revoke = await airlock(['admin', '--data-dir', gw.dataDir, 'certs', 'revoke', carol.serial.toString()]);
      assert.equal(revoke.code, 0, revoke.stderr);
      // The live connection is ended (gateway-live.test.ts measures how fast); nothing rides in it any more.
      const e = await auditEvent('gateway.ended', (x) => x.actor === 'carol');
      assert.equal(e.details.reason, 'revoked');
      const third = await sshF(cm, ['vm1', 'echo third']);
      assert.notEqual(third.code, 0);
      assert.doesNotMatch(third.stdout, /third/);
      // The lobby says why: over the master if it is still going away (refused-session.ts), or, on a
      // new connection, in the banner of the refused login (revocation-banner.ts).
      // (LogLevel INFO: ssh prints a userauth banner only at INFO or above, and this config says ERROR.)
      const lobby = await sshF(cm, ['-o', 'LogLevel=INFO', 'gw']);
      assert.notEqual(lobby.code, 0);
      assert.match(lobby.stderr, /[Yy]our (Airlock )?certificate (\(serial \d+\) )?has been revoked/);
      assert.doesNotMatch(lobby.stdout, /targets/);
      assert.equal(await logins(), 1);
    } finally {
      await sshF(cm, ['-O', 'exit', 'gw']);
    }
  });
});

test('trust material: GET /api/v1/gateway and airlock admin gateway-info agree with ssh-keygen; admin audit shows gateway events', async () => {
  const res = await fetch(`${gw.server.httpUrl}/api/v1/gateway`);
  assert.equal(res.status, 200);
  const info = (await res.json()) as { ssh: string; fingerprint: string; randomart: string; known_hosts: string; host_key: string };
  assert.equal(info.ssh, `127.0.0.1:${gw.port}`);
  assert.equal(info.known_hosts, `[127.0.0.1]:${gw.port} ${info.host_key}`);
  const keygen = await run('ssh-keygen', ['-l', '-v', '-f', join(gw.dataDir, 'gateway', 'ssh_host_ed25519_key')]);
  assert.ok(keygen.stdout.includes(info.fingerprint) && keygen.stdout.includes(info.randomart), keygen.stdout);
  // What the client saw is the same key: ssh-keyscan through the real protocol.
  const scan = await run('ssh-keyscan', ['-t', 'ed25519', '-p', String(gw.port), '127.0.0.1']);
  assert.ok(scan.stdout.includes(info.host_key.split(' ')[1]!), scan.stdout + scan.stderr);

  const cli = await airlock(['admin', '--data-dir', gw.dataDir, 'gateway-info', '--json'], { env: { AIRLOCK_SSH_PUBLIC: 'gw.example.org:22' } });
  assert.equal(cli.code, 0, cli.stderr);
  const c = JSON.parse(cli.stdout) as { ssh: string; fingerprint: string; known_hosts: string };
  assert.equal(c.ssh, 'gw.example.org:22');
  assert.equal(c.fingerprint, info.fingerprint);
  assert.equal(c.known_hosts, `gw.example.org ${info.host_key}`);

  const audit = await airlock(['admin', '--data-dir', gw.dataDir, 'audit', '--type', 'gateway', '--json']);
  assert.equal(audit.code, 0, audit.stderr);
  const types = new Set((JSON.parse(audit.stdout) as { type: string }[]).map((e) => e.type));
  assert.ok(types.has('gateway.auth') && types.has('gateway.channel') && types.has('gateway.refused'), [...types].join(','));
});
