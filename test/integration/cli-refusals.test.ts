/**
 * Every refusal reaches the person through the config `airlock config` generates, with multiplexing
 * (issue 11 item 1): plain `ssh TARGET` with the real OpenSSH client, both on a first connection and on
 * one that reuses the gateway's master. Without the generated ProxyCommand, a master turns each refusal
 * into "Stdio forwarding request failed: Session open refused by peer" (mux.c drops the reason), and
 * ControlPersist on a target sends the hop's stderr to /dev/null ("kex_exchange_identification:
 * Connection closed by remote host"). One world (gateway, sshd target) for all cases.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { freePort } from '../harness/processes.ts';
import { startCliWorld, runDetached, type CliWorld } from './cli-fixture.ts';
import { formatPublicKey, publicKeyFromKeyObject } from '../../src/ssh/keys.ts';

let w: CliWorld;
let oldBoxExpiresAt = 0;

before(async () => {
  // What a person sees over a master that is still up is tested here; the live check would end a
  // revoked master within a second (gateway-live.test.ts), so it is slowed down for this world.
  w = await startCliWorld({ AIRLOCK_GATEWAY_LIVE_CHECK: '60s' });
  const t = { project: 'genomics', host: '127.0.0.1', port: w.node.port, loginUser: 'root' };
  // Reachable only from an address this client does not have (the gateway sees 127.0.0.1).
  await w.gw.target({ ...t, name: 'far-box', allowedCidrs: ['127.0.0.2/32'] });
  // Removed after the config was written.
  await w.gw.target({ ...t, name: 'gone-box' });
  // Expires a few seconds after the config was written (the cases before it take longer than that).
  oldBoxExpiresAt = Date.now() + 4_000;
  await w.gw.target({ ...t, name: 'old-box', expiresAt: oldBoxExpiresAt });
  const login = await w.login();
  if (login.code !== 0) throw new Error(login.stderr);
});

after(async () => {
  await w?.stop();
});

const ssh = (args: string[]) => runDetached('ssh', ['-F', w.sshConfig, ...args], w.env(), 60_000);
const gatewayLogins = async () => (await w.gw.audit('gateway.auth')).filter((e) => e.actor === 'alice' && e.outcome === 'success').length;
const masterUp = async () => (await ssh(['-O', 'check', 'airlock-gateway'])).code === 0;
const noMaster = async () => {
  await ssh(['-O', 'exit', 'airlock-gateway']);
  assert.equal(await masterUp(), false);
};

/** `ssh NAME true` twice: without a master (the hop makes one), then over it; both print `reason`. */
async function refusedTwice(name: string, reason: RegExp): Promise<void> {
  await noMaster();
  const first = await ssh([name, 'true']);
  assert.equal(first.code, 255, first.stderr);
  assert.match(first.stderr, reason, 'first connection');
  assert.ok(await masterUp(), 'the hop left a master for the next connection');
  const logins = await gatewayLogins();
  const second = await ssh([name, 'true']);
  assert.equal(second.code, 255, second.stderr);
  assert.match(second.stderr, reason, 'over the master');
  assert.equal(await gatewayLogins(), logins, 'the second connection reused the master');
}

test('the generated config reaches the target, and a refusal at the gateway names its cause, with and without a master', async (t) => {
  await t.test('control: vm1 is reached, twice over one gateway login', async () => {
    await noMaster();
    const before = await gatewayLogins();
    assert.equal((await ssh(['vm1', 'true'])).code, 0);
    const r = await ssh(['vm1', 'echo ok-$(id -un)']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'ok-root');
    assert.equal(r.stderr, '', 'nothing extra printed on success');
    assert.equal(await gatewayLogins(), before + 1);
  });

  await t.test('client address outside the target\'s CIDRs', async () => {
    await refusedTwice('far-box', /Airlock gateway: Target far-box cannot be reached from your address 127\.0\.0\.1\./);
    // `airlock ssh` runs the same ssh with the same config. (`airlock tunnel` uses a connection of its
    // own and words channel refusals itself: test/integration/cli-tunnel.test.ts.)
    const viaCli = await w.cli(['ssh', 'far-box', '--', 'true']);
    assert.notEqual(viaCli.code, 0);
    assert.match(viaCli.stderr, /Airlock gateway: Target far-box cannot be reached from your address 127\.0\.0\.1\./);
  });

  await t.test('target removed', async () => {
    await w.gw.server.core.inventory.removeTarget('gone-box', { name: 'test', clientAddress: null });
    await refusedTwice('gone-box', /Airlock gateway: "gone-box" is not one of your targets/);
  });

  await t.test('target expired', async () => {
    // Bounded wait for the expiry set in before() (usually passed already).
    for (let i = 0; i < 100 && Date.now() <= oldBoxExpiresAt; i++) await new Promise((r) => setTimeout(r, 100));
    await refusedTwice('old-box', /Airlock gateway: Target old-box has expired\./);
  });

  await t.test('airlock doctor names each refusal, and vm1 as reachable', async () => {
    const r = await w.cli(['doctor', '--json']);
    assert.equal(r.code, 1, r.stderr);
    const targets = (JSON.parse(r.stdout) as { findings: { check: string; status: string; what: string }[] }).findings.filter((f) => f.check === 'targets');
    assert.deepEqual(targets.map((f) => [f.status, f.what]), [
      ['fail', 'far-box: Target far-box cannot be reached from your address 127.0.0.1.'],
      ['fail', 'gone-box: "gone-box" is not one of your targets; "ssh GATEWAY hosts" lists them.'],
      ['fail', 'old-box: Target old-box has expired.'],
    ]);
  });
});

test('an unreachable gateway and a changed gateway host key are named by ssh itself (the hop\'s stderr is shown)', async (t) => {
  const owned = join(w.home, '.ssh', 'airlock', 'config');
  const knownHosts = join(w.home, '.ssh', 'airlock', 'known_hosts');
  await noMaster();

  await t.test('unreachable gateway', async () => {
    const text = readFileSync(owned, 'utf8');
    const closed = await freePort();
    writeFileSync(owned, text.replace(`Port ${w.gw.port}\n`, `Port ${closed}\n`));
    try {
      const r = await ssh(['vm1', 'true']);
      assert.equal(r.code, 255);
      assert.match(r.stderr, new RegExp(`connect to host 127\\.0\\.0\\.1 port ${closed}: Connection refused`));
    } finally {
      writeFileSync(owned, text);
    }
  });

  await t.test('changed gateway host key', async () => {
    const text = readFileSync(knownHosts, 'utf8');
    const other = formatPublicKey(publicKeyFromKeyObject(generateKeyPairSync('ed25519').publicKey), '');
    writeFileSync(knownHosts, text.replace(/^(\[127\.0\.0\.1\]:\d+) ssh-ed25519 \S+$/m, `$1 ${other}`));
    try {
      const r = await ssh(['vm1', 'true']);
      assert.equal(r.code, 255);
      assert.match(r.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED/);
      assert.match(r.stderr, /Host key verification failed/);
    } finally {
      writeFileSync(knownHosts, text);
    }
  });
  // With a master up, neither happens: the master is an established, verified connection (when the
  // gateway goes away, the master ends with it and the next connection is a first one again).
});

test('a revoked certificate is named, over a live master and on a new connection', async () => {
  await noMaster();
  assert.equal((await ssh(['vm1', 'true'])).code, 0);
  assert.ok(await masterUp());
  const revoke = await w.cli(['certs', 'revoke', '--all']);
  assert.equal(revoke.code, 0, revoke.stderr);
  // Over the master (until the gateway ends it): the channel is refused, `why` tells the reason.
  const over = await ssh(['vm1', 'true']);
  assert.equal(over.code, 255);
  assert.match(over.stderr, /Airlock gateway: Your certificate has been revoked\./);
  // A new connection: the gateway's banner after the signature verified.
  await noMaster();
  const fresh = await ssh(['vm1', 'true']);
  assert.equal(fresh.code, 255);
  assert.match(fresh.stderr, /Airlock: your certificate \(serial \d+\) has been revoked\. Get a new one with "airlock login"/);
  const tunnel = await w.cli(['tunnel', 'vm1', 'jupyter']);
  assert.notEqual(tunnel.code, 0);
  assert.match(tunnel.stderr, /Airlock: your certificate \(serial \d+\) has been revoked\./);
});
