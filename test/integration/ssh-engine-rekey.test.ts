/**
 * Automatic rekeying under a large transfer through the gateway: a stream goes up to a real sshd target
 * through ProxyJump while another comes down on the same connection, both checked by SHA-256, and the
 * gateway hop crosses several key re-exchanges, counted on both ends: the gateway's counter and the
 * client's own log of that hop. A second, smaller transfer has the client start them (RekeyLimit).
 *
 * By default 512 MiB each way with a 64 MiB gateway limit (20–40 s on two cores, depending on load).
 * AIRLOCK_LONG_TESTS=1 runs 3 GiB each way with the production default limit (1 GiB): several
 * minutes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestSshd } from '../harness/sshd.ts';
import { startTargetSshd, startTestGateway, writeSshConfig, type TestGateway, type UserKey } from '../harness/gateway.ts';

const LONG = process.env.AIRLOCK_LONG_TESTS === '1';
const MiB = 1024 * 1024;
const SIZE = LONG ? 3 * 1024 * MiB : 512 * MiB;
const GATEWAY_REKEY = LONG ? '1G' : '64M';
const TIMEOUT_MS = LONG ? 1_800_000 : 300_000;

// A deterministic stream: AES-128-CTR keystream (fast, incompressible, and easy to reproduce remotely).
const STREAM_KEY = '000102030405060708090a0b0c0d0e0f';
const STREAM_IV = 'f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff';
const CHUNK = 4 * MiB;

/** The JavaScript the target runs (with this very node) to send `size` bytes of the stream. */
const generator = (size: number): string =>
  `const c=require('crypto').createCipheriv('aes-128-ctr',Buffer.from('${STREAM_KEY}','hex'),Buffer.from('${STREAM_IV}','hex'));` +
  `const z=Buffer.alloc(${CHUNK});let left=${size};` +
  `(function next(){while(left>0){const n=Math.min(left,${CHUNK});left-=n;if(!process.stdout.write(c.update(n===${CHUNK}?z:z.subarray(0,n)))){process.stdout.once('drain',next);return}}})()`;

function streamDigest(size: number): string {
  const c = createCipheriv('aes-128-ctr', Buffer.from(STREAM_KEY, 'hex'), Buffer.from(STREAM_IV, 'hex'));
  const h = createHash('sha256');
  const zero = Buffer.alloc(CHUNK);
  for (let left = size; left > 0; left -= CHUNK) h.update(c.update(left >= CHUNK ? zero : zero.subarray(0, left)));
  return h.digest('hex');
}

let gw: TestGateway;
let node: TestSshd;
let alice: UserKey;

before(async () => {
  gw = await startTestGateway({ AIRLOCK_GATEWAY_ALLOW_LOOPBACK_TARGETS: '1', AIRLOCK_GATEWAY_PENALTIES: 'off', AIRLOCK_GATEWAY_REKEY_BYTES: GATEWAY_REKEY });
  alice = await gw.user('alice');
  await gw.project('genomics', ['alice']);
  node = await startTargetSshd(gw, ['alice']);
  await gw.target({ name: 'vm1', project: 'genomics', host: '127.0.0.1', port: node.port, loginUser: 'root' });
  // The harness's known_hosts holds the gateway's line; the target's is added.
  const [type, b64] = node.hostKeyPub.split(' ');
  appendFileSync(gw.knownHosts, `[vm1]:${node.port} ${type} ${b64}\n`);
});

after(async () => {
  await node?.stop();
  await gw?.stop();
});

interface TransferResult {
  seconds: number;
  /** Re-exchanges the gateway counted during the transfer. */
  serverRekeys: number;
  /** Key exchanges in the client's log of the gateway hop (the first included). */
  clientKex: number;
  /** Re-exchanges the client started itself (its RekeyLimit). */
  clientStarted: number;
}

/** `size` bytes up to the target and `size` down from it over one ProxyJump session, both checked. */
async function transfer(name: string, size: number, clientRekeyLimit: string | null): Promise<TransferResult> {
  const hopLog = join(gw.dir, `${name}-gateway-hop.log`);
  const cfg = writeSshConfig(join(gw.dir, `ssh_config.${name}`), gw.knownHosts, [
    { alias: 'gw', hostName: gw.host, port: gw.port, user: 'alice', key: alice, extra: clientRekeyLimit ? [`RekeyLimit ${clientRekeyLimit}`] : [] },
    // The gateway hop as an explicit ProxyCommand so that its debug log goes to a file of its own.
    { alias: 'vm1', hostName: 'vm1', port: node.port, user: 'root', key: alice, extra: [`ProxyCommand ssh -F ${join(gw.dir, `ssh_config.${name}`)} -v -E ${hopLog} -W %h:%p gw`] },
  ]);
  const expected = streamDigest(size);
  const rekeysBefore = gw.server.gateway.stats().rekeys;
  // Upload into sha256sum (its result on stderr) while the target sends the stream down on stdout.
  const remote = `sha256sum <&0 >&2 & ${process.execPath} -e "${generator(size)}"; wait`;
  const child = spawn('ssh', ['-F', cfg, 'vm1', remote], { env: { ...process.env, SSH_AUTH_SOCK: '' }, stdio: ['pipe', 'pipe', 'pipe'] });
  const down = createHash('sha256');
  let downBytes = 0;
  child.stdout.on('data', (d: Buffer) => {
    down.update(d);
    downBytes += d.length;
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.on('error', () => {}); // a failed ssh is reported by its exit code below
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const t0 = Date.now();
  const up = createCipheriv('aes-128-ctr', Buffer.from(STREAM_KEY, 'hex'), Buffer.from(STREAM_IV, 'hex'));
  const zero = Buffer.alloc(CHUNK);
  for (let left = size; left > 0 && child.exitCode === null; left -= CHUNK) {
    const chunk = up.update(left >= CHUNK ? zero : zero.subarray(0, left));
    if (!child.stdin.write(chunk)) await Promise.race([new Promise<void>((r) => child.stdin.once('drain', () => r())), exited]);
  }
  child.stdin.end();
  const code = await exited;
  const seconds = (Date.now() - t0) / 1000;
  assert.equal(code, 0, stderr);
  assert.equal(downBytes, size, 'the whole stream came down');
  assert.equal(down.digest('hex'), expected, 'the download is intact');
  assert.match(stderr, new RegExp(`^${expected}  -$`, 'm'), 'the upload arrived intact at the target');
  // Each exchange logs one KEXINIT sent and one received; whoever started it, its KEXINIT came first
  // (the initial exchange, where both send at once, is not counted either way).
  const kexinits = [...readFileSync(hopLog, 'utf8').matchAll(/SSH2_MSG_KEXINIT (sent|received)/g)].map((m) => m[1]);
  let clientStarted = 0;
  for (let i = 2; i + 1 < kexinits.length; i += 2) {
    assert.notEqual(kexinits[i], kexinits[i + 1], 'one KEXINIT each way per exchange');
    if (kexinits[i] === 'sent') clientStarted++;
  }
  return {
    seconds,
    serverRekeys: gw.server.gateway.stats().rekeys - rekeysBefore,
    clientKex: kexinits.filter((k) => k === 'received').length,
    clientStarted,
  };
}

const describe = (r: TransferResult, size: number): string =>
  `${r.serverRekeys} re-exchanges counted by the gateway, ${r.clientKex} key exchanges in the client's log (${r.clientStarted} started by the client), ${((2 * size) / MiB / r.seconds).toFixed(0)} MiB/s (${r.seconds.toFixed(1)} s)`;

test(`${SIZE / MiB} MiB up and ${SIZE / MiB} MiB down through the gateway cross several gateway rekeys, data intact`, { timeout: TIMEOUT_MS }, async () => {
  const r = await transfer('volume', SIZE, null);
  const t = describe(r, SIZE);
  console.log(`# ssh-engine-rekey (gateway by volume, ${GATEWAY_REKEY}): ${t}`);
  // Every GATEWAY_REKEY of both directions together; while one runs, up to a window more can pass.
  assert.ok(r.serverRekeys >= Math.floor((2 * SIZE) / parseSize(GATEWAY_REKEY)) - 1, t);
  assert.ok(r.serverRekeys >= 3, t);
  assert.equal(r.clientStarted, 0, t);
  // Both ends went through each one: the client logged every re-exchange the gateway counted.
  assert.equal(r.clientKex, r.serverRekeys + 1, t);
});

test('re-exchanges the client starts (RekeyLimit) during a transfer both ways are served too, data intact', { timeout: 120_000 }, async () => {
  const size = 64 * MiB;
  // 8 MiB per direction: always before the gateway's own limit.
  const r = await transfer('client', size, '8M');
  const t = describe(r, size);
  console.log(`# ssh-engine-rekey (client RekeyLimit 8M): ${t}`);
  assert.ok(r.clientStarted >= 4, t);
  assert.equal(r.clientKex, r.serverRekeys + 1, t);
});

function parseSize(s: string): number {
  return Number(s.slice(0, -1)) * (s.endsWith('G') ? 1024 * MiB : MiB);
}
