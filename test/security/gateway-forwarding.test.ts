/**
 * Checklist 4 (open proxy / pivot) against the running gateway with the stock OpenSSH client: `-W` and
 * `-L` to every spelling of loopback, link-local, cloud metadata, unspecified and the gateway's own
 * listeners are refused and audited with a stable reason; so are another project's target, a port the
 * target does not offer, a client outside the target's CIDRs. Without the test-only switch, a target
 * registered on a loopback address is refused too; with it, the allowed target works (the control).
 * The attempts share one gateway connection (ControlMaster), as `ssh -J` users with ControlPersist do.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort, waitFor } from '../harness/processes.ts';
import { sshF, startHttpService, startTestGateway, writeSshConfig, type TestGateway, type UserKey } from '../harness/gateway.ts';

interface Setup {
  gw: TestGateway;
  cfg: string;
  user: UserKey;
}

let web: Awaited<ReturnType<typeof startHttpService>>;
let prod: Setup;
let demo: Setup;

async function setup(env: NodeJS.ProcessEnv): Promise<Setup> {
  const gw = await startTestGateway({ AIRLOCK_GATEWAY_PENALTIES: 'off', ...env });
  const user = await gw.user('alice');
  await gw.user('bob');
  await gw.project('genomics', ['alice']);
  await gw.project('physics', ['bob']);
  // The "SSH port" of these targets is the HTTP service: all that matters here is who may reach what.
  await gw.target({ name: 'vm1', project: 'genomics', host: '127.0.0.1', port: web.port });
  await gw.target({ name: 'vm2', project: 'physics', host: '127.0.0.3', port: web.port });
  await gw.target({ name: 'restricted', project: 'genomics', host: '127.0.0.4', port: web.port, allowedCidrs: ['10.0.0.0/8'] });
  // Registered by mistake (or by a hostile orchestrator) on the gateway's own ports and on link-local/metadata.
  await gw.target({ name: 'self', project: 'genomics', host: '127.0.0.1', port: gw.port, services: [{ name: 'api', port: new URL(gw.server.httpUrl).port === '' ? 80 : Number(new URL(gw.server.httpUrl).port), path: null, token: null }] });
  await gw.target({ name: 'metadata', project: 'genomics', host: '169.254.169.254', port: 80 });
  await gw.target({ name: 'linklocal', project: 'genomics', host: 'fe80::1', port: 22 });
  const cfg = writeSshConfig(join(gw.dir, 'ssh_config'), gw.knownHosts, [
    { alias: 'gw', hostName: gw.host, port: gw.port, user: 'alice', key: user, extra: ['ControlMaster auto', `ControlPath ${join(gw.dir, 'cm-%C')}`, 'ControlPersist 60'] },
  ]);
  // Start the shared (multiplexed) connection before the concurrent attempts.
  const warm = await sshF(cfg, ['gw', 'hosts']);
  if (warm.code !== 0) throw new Error(`cannot log in to the gateway: ${warm.stderr}`);
  return { gw, cfg, user };
}

before(async () => {
  web = await startHttpService('127.0.0.1');
  [prod, demo] = await Promise.all([setup({}), setup({ AIRLOCK_GATEWAY_ALLOW_LOOPBACK_TARGETS: '1' })]);
});

after(async () => {
  for (const s of [prod, demo]) {
    if (!s) continue;
    await sshF(s.cfg, ['-O', 'exit', 'gw']);
    await s.gw.stop();
  }
  await web?.stop();
});

const HTTP_GET = 'GET /through-the-gateway HTTP/1.0\r\n\r\n';

/** Runs `fn` over `items`, four at a time (the attempts share one multiplexed gateway connection). */
async function eachConcurrently<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(Array.from({ length: 4 }, async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
  }));
}

/** `ssh -W host:port gw`, with an HTTP request as input. */
function forward(s: Setup, host: string, port: number) {
  const spec = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return sshF(s.cfg, ['-W', spec, 'gw'], { input: HTTP_GET, timeoutMs: 15_000 });
}

/** The reason the gateway recorded for refusing `host`:`port`. */
async function refusal(s: Setup, host: string, port: number): Promise<string> {
  return waitFor(`the refusal of ${host}:${port}`, async () => {
    const e = (await s.gw.audit('gateway.channel')).find((x) => x.outcome === 'denied' && x.details.host === host && x.details.port === port);
    return e ? String(e.details.reason) : undefined;
  }, 5000);
}

test('control: with the test-only switch, the allowed target is reached by name and by address', async () => {
  for (const host of ['vm1', '127.0.0.1']) {
    const r = await forward(demo, host, web.port);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /hello from the service \/through-the-gateway/);
  }
});

const LOOPBACK_FORMS = ['127.0.0.1', '2130706433', '0x7f000001', '0X7F000001', '0177.0.0.1', '127.1', '127.0.1', '127.0.0.1.', '127.255.255.254', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '::ffff:7f00:1', 'localhost', 'LOCALHOST.', 'foo.localhost', '0.0.0.0', '0', '::', '::127.0.0.1'];
const LINK_LOCAL_FORMS = ['169.254.169.254', '2852039166', '0xa9fea9fe', '::ffff:169.254.169.254', '169.254.0.1', 'fe80::1', 'fe80::1%lo', 'FE80::1%eth0', 'fd00:ec2::254', '64:ff9b::169.254.169.254', '224.0.0.1', '255.255.255.255'];

test('without the switch (production), every spelling of loopback is refused — even the registered target', async () => {
  await eachConcurrently([...LOOPBACK_FORMS, 'vm1'], async (host) => {
    const r = await forward(prod, host, web.port);
    assert.notEqual(r.code, 0, `${host} was forwarded: ${r.stdout}`);
    assert.doesNotMatch(r.stdout, /hello from the service/, host);
    assert.equal(await refusal(prod, host, web.port), 'forbidden_address', host);
  });
});

test('link-local, cloud metadata, multicast and broadcast are refused with or without the switch', async () => {
  const cases = [prod, demo].flatMap((s) => [...LINK_LOCAL_FORMS, 'metadata', 'linklocal'].map((host) => ({ s, host, port: host === 'linklocal' ? 22 : 80 })));
  await eachConcurrently(cases, async ({ s, host, port }) => {
    const r = await forward(s, host, port);
    assert.notEqual(r.code, 0, host);
    assert.equal(await refusal(s, host, port), 'forbidden_address', host);
  });
});

test("the gateway's own listeners are refused, by address and as a registered target", async () => {
  const httpPort = Number(new URL(demo.gw.server.httpUrl).port);
  await eachConcurrently([['127.0.0.1', demo.gw.port], ['self', demo.gw.port], ['self', httpPort], ['2130706433', demo.gw.port]] as const, async ([host, port]) => {
    const r = await forward(demo, host, port);
    assert.notEqual(r.code, 0, `${host}:${port}`);
    assert.doesNotMatch(r.stdout, /SSH-2\.0-Airlock|HTTP\/1\.1/, `${host}:${port} reached the gateway itself`);
    assert.equal(await refusal(demo, host, port), 'own_listener', `${host}:${port}`);
  });
});

test("another project's target, a port the target does not offer, a client outside its CIDRs: refused", async () => {
  const cases: [string, number, string][] = [
    ['vm2', web.port, 'not_a_target'],
    ['127.0.0.3', web.port, 'not_a_target'],
    ['no-such-target', 22, 'not_a_target'],
    ['vm1', web.port + 1 === demo.gw.port ? web.port + 2 : web.port + 1, 'port_not_allowed'],
    ['restricted', web.port, 'client_address_not_allowed'],
    ['not a host', 22, 'invalid_host'],
  ];
  await eachConcurrently(cases, async ([host, port, reason]) => {
    const r = await forward(demo, host, port);
    assert.notEqual(r.code, 0, host);
    assert.equal(await refusal(demo, host, port), reason, host);
  });
});

test('the client sees why (non-multiplexed: "administratively prohibited: <reason>")', async () => {
  const r = await sshF(demo.cfg, ['-o', 'LogLevel=INFO', '-o', 'ControlMaster=no', '-o', 'ControlPath=none', '-W', '169.254.169.254:80', 'gw'], { input: '' });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /administratively prohibited: 169\.254\.169\.254 is a metadata address/);
});

test('-L to a forbidden form is refused when the tunnel is used, and audited', async () => {
  const local = await freePort();
  const add = await sshF(prod.cfg, ['-O', 'forward', '-L', `${local}:0x7f000001:${web.port}`, 'gw']);
  assert.equal(add.code, 0, add.stderr);
  try {
    const got = await new Promise<string>((resolve) => {
      const s = connect({ host: '127.0.0.1', port: local }, () => s.write(HTTP_GET));
      let data = '';
      s.on('data', (d: Buffer) => (data += d.toString()));
      s.on('close', () => resolve(data));
      s.on('error', () => resolve(data));
    });
    assert.equal(got, '');
    assert.equal(await refusal(prod, '0x7f000001', web.port), 'forbidden_address');
  } finally {
    await sshF(prod.cfg, ['-O', 'cancel', '-L', `${local}:0x7f000001:${web.port}`, 'gw']);
  }
});
