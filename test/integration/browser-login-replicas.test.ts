/**
 * Two replicas on one PostgreSQL database: an SSH connection waiting at replica A's gateway is released
 * by an approval made through replica B's web pages (the waiter polls the database; no in-process
 * state). Neither replica's logs contain the link's secret, the session cookie or the password.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { POSTGRES_SKIP_REASON } from '../harness/postgres.ts';
import { TEST_PASSWORD, type TestServer } from '../harness/in-process.ts';
import { startServerReplicas, type Replicas } from '../harness/replicas.ts';
import { writeSshConfig } from '../harness/gateway.ts';
import { sshWithLink } from '../harness/ssh-browser-login.ts';
import { WebClient } from '../harness/web-client.ts';
import { writeFileSync } from 'node:fs';

let replicas: Replicas<TestServer> | undefined;
let a: TestServer;
let b: TestServer;
let secret: string;

before(async () => {
  if (POSTGRES_SKIP_REASON) return;
  replicas = await startServerReplicas({ AIRLOCK_GATEWAY_AUTH: 'certificate,browser', AIRLOCK_GATEWAY_BROWSER_PROMPT: 'none', AIRLOCK_GATEWAY_PENALTIES: 'off' });
  ({ a, b } = replicas);
  secret = (await a.addUser('alice')).secret;
});

after(async () => {
  await replicas?.stop();
});

test('an approval through replica B releases the SSH session waiting at replica A', { skip: POSTGRES_SKIP_REASON }, async () => {
  const knownHosts = join(a.dataDir, 'known_hosts_test');
  writeFileSync(knownHosts, a.server.gateway.trust().knownHostsLine + '\n');
  const { host, port } = a.server.gateway.address;
  const cfg = writeSshConfig(join(a.dataDir, 'ssh_config_test'), knownHosts, [
    { alias: 'gw-a', hostName: host, port, user: 'alice', extra: ['PubkeyAuthentication no', 'PreferredAuthentications keyboard-interactive', 'BatchMode no', 'LogLevel INFO'] },
  ]);
  let linkSecret = '';
  const r = await sshWithLink(cfg, ['gw-a', 'hosts'], async (url, code) => {
    // A load balancer may send the browser to any replica: here, B.
    const path = new URL(url).pathname;
    linkSecret = path.split('/').pop()!;
    const web = new WebClient(b.url);
    const first = await web.get(path);
    assert.equal(first.status, 303);
    await web.get(first.location!);
    const signIn = await web.post('/login/password', { next: path, user: 'alice', password: TEST_PASSWORD, otp: b.totp(secret) });
    assert.equal(signIn.status, 303, signIn.text);
    const page = await web.get(path);
    assert.equal(page.status, 200, page.text);
    const approved = await web.post(`${path}/approve`, { code });
    assert.equal(approved.status, 200, approved.text);
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /signed in as alice through a browser login/);
  const approval = (await b.server.core.store.audit.list({ type: 'auth.browser_approval' })).at(-1);
  assert.equal(approval?.outcome, 'success');

  const logs = [...a.logLines, ...b.logLines].join('\n');
  assert.ok(linkSecret.length === 43);
  assert.ok(!logs.includes(linkSecret), 'the link secret is not logged');
  assert.ok(!logs.includes(TEST_PASSWORD), 'the password is not logged');
});
