/**
 * Checklist 1: Terrapin (CVE-2023-48795) and the pinned algorithms. A raw TCP client speaks the
 * unencrypted start of SSH: the gateway's identification string carries no version, its KEXINIT offers
 * exactly the pinned algorithms plus `kex-strict-s-v00@openssh.com`, and a client that advertises
 * `kex-strict-c-v00@openssh.com` but sends SSH_MSG_IGNORE before its KEXINIT (the prefix-truncation
 * attack's injected packet) is disconnected. The stock client confirms strict KEX and refuses to connect
 * when it is limited to NIST, SHA-1 or group-exchange algorithms.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SshReader, SshWriter } from '../../src/ssh/wire.ts';
import { GATEWAY_ALGORITHMS } from '../../src/gateway/algorithms.ts';
import { sshF, startTestGateway, writeSshConfig, type TestGateway, type UserKey } from '../harness/gateway.ts';
import { onServerStream, packet } from '../harness/raw-ssh.ts';

let gw: TestGateway;
let alice: UserKey;
let cfg: string;

before(async () => {
  gw = await startTestGateway({ AIRLOCK_GATEWAY_PENALTIES: 'off' });
  alice = await gw.user('alice');
  cfg = writeSshConfig(join(gw.dir, 'ssh_config'), gw.knownHosts, [{ alias: 'gw', hostName: gw.host, port: gw.port, user: 'alice', key: alice }]);
});

after(async () => {
  await gw?.stop();
});

const MSG_DISCONNECT = 1;
const MSG_IGNORE = 2;
const MSG_KEXINIT = 20;

function kexinit(kex: string[]): Buffer {
  const w = new SshWriter().raw(Buffer.from([MSG_KEXINIT])).raw(randomBytes(16));
  for (const list of [kex, ['ssh-ed25519'], ['chacha20-poly1305@openssh.com'], ['chacha20-poly1305@openssh.com'], ['hmac-sha2-256-etm@openssh.com'], ['hmac-sha2-256-etm@openssh.com'], ['none'], ['none'], [], []]) w.string(list.join(','));
  return w.raw(Buffer.from([0])).uint32(0).toBuffer();
}

interface RawSession {
  socket: Socket;
  ident: Promise<string>;
  /** Server packets' payloads as they arrive. */
  packets: Buffer[];
  /** Called after each packet from the server. */
  onPacket: Set<() => void>;
  closed: Promise<number>;
}

/** Opens a raw connection that parses the server's identification line and unencrypted packets. */
function raw(): RawSession {
  const socket = connect({ host: gw.host, port: gw.port });
  const packets: Buffer[] = [];
  let resolveIdent: (s: string) => void;
  const ident = new Promise<string>((r) => (resolveIdent = r));
  const started = Date.now();
  const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now() - started)));
  socket.on('error', () => {});
  const onPacket = new Set<() => void>();
  onServerStream(socket, (payload) => {
    packets.push(payload);
    for (const f of onPacket) f();
  }, (line) => resolveIdent(line));
  return { socket, ident, packets, onPacket, closed };
}

function nameLists(payload: Buffer): string[][] {
  const r = new SshReader(payload.subarray(17));
  return Array.from({ length: 10 }, () => {
    const s = r.text();
    return s === '' ? [] : s.split(',');
  });
}

async function within<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)));
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits until the server has sent `n` packets (an event, bounded by 30 s; a loaded machine is slow). */
async function packetsOf(s: RawSession, n: number): Promise<Buffer[]> {
  if (s.packets.length < n) {
    let check = (): void => undefined;
    const arrived = new Promise<void>((resolve) => {
      check = () => {
        if (s.packets.length >= n) resolve();
      };
      s.onPacket.add(check);
    });
    await within(arrived, 30_000);
    s.onPacket.delete(check);
  }
  return s.packets;
}

test('the identification string has no version and the KEXINIT offers exactly the pinned algorithms', async () => {
  const s = raw();
  assert.equal(await s.ident, 'SSH-2.0-Airlock');
  s.socket.write('SSH-2.0-Probe\r\n');
  const kex = (await packetsOf(s, 1))[0]!;
  assert.ok(kex, 'the server sent its KEXINIT');
  assert.equal(kex[0], MSG_KEXINIT);
  const [kexAlgs, hostKey, encCs, encSc, macCs, macSc, compCs, compSc] = nameLists(kex);
  // Exactly the configured lists, in order, plus ssh2's strict-KEX marker…
  assert.deepEqual(kexAlgs, [...(GATEWAY_ALGORITHMS.kex as string[]), 'kex-strict-s-v00@openssh.com']);
  assert.ok(kexAlgs.includes('curve25519-sha256'));
  assert.ok(hostKey!.includes('ssh-ed25519'));
  assert.deepEqual(encCs, GATEWAY_ALGORITHMS.cipher);
  assert.deepEqual(encSc, encCs);
  assert.deepEqual(macCs, ['hmac-sha2-256-etm@openssh.com', 'hmac-sha2-512-etm@openssh.com']);
  assert.deepEqual(macSc, macCs);
  assert.deepEqual(compCs, ['none']);
  assert.deepEqual(compSc, ['none']);
  // …and nothing weak anywhere: no NIST ECDH, no (group-exchange) finite-field DH, no SHA-1, no CBC, no RSA/DSA host keys.
  for (const name of [...kexAlgs, ...hostKey!, ...encCs!, ...macCs]) {
    assert.doesNotMatch(name, /nistp|diffie-hellman|sha1|-cbc|^ssh-rsa$|^rsa-sha2|ssh-dss|arcfour|3des|hmac-md5|^zlib/, name);
  }
  s.socket.destroy();
});

test('Terrapin: IGNORE before KEXINIT while advertising kex-strict-c-v00 → disconnected (and the controls are not)', async () => {
  // The attack's disconnect is waited for (bounded); the controls must still be open 1.5 s on, which a
  // loaded machine can only make easier to pass, never fail.
  const attempt = async (opts: { ignoreFirst: boolean; strict: boolean; waitMs: number }) => {
    const s = raw();
    await s.ident;
    s.socket.write('SSH-2.0-TerrapinProbe\r\n');
    if (opts.ignoreFirst) s.socket.write(packet(new SshWriter().raw(Buffer.from([MSG_IGNORE])).string('injected').toBuffer()));
    s.socket.write(packet(kexinit(['curve25519-sha256', ...(opts.strict ? ['kex-strict-c-v00@openssh.com'] : [])])));
    const closedAfter = await within(s.closed, opts.waitMs);
    const disconnect = s.packets.find((p) => p[0] === MSG_DISCONNECT);
    s.socket.destroy();
    return { closedAfter, disconnectReason: disconnect ? disconnect.readUInt32BE(1) : null };
  };
  // Controls: a strict client without the injected packet, and a legacy (non-strict) client with it, both proceed.
  const [attack, strictControl, legacyControl] = await Promise.all([
    attempt({ ignoreFirst: true, strict: true, waitMs: 30_000 }),
    attempt({ ignoreFirst: false, strict: true, waitMs: 1500 }),
    attempt({ ignoreFirst: true, strict: false, waitMs: 1500 }),
  ]);
  assert.notEqual(attack.closedAfter, 'timeout', 'the strict-KEX violation must end the connection');
  assert.equal(attack.disconnectReason, 3, 'SSH_DISCONNECT_KEY_EXCHANGE_FAILED');
  assert.equal(strictControl.closedAfter, 'timeout');
  assert.equal(legacyControl.closedAfter, 'timeout');
});

test('ssh -vvv: strict KEX ordering, curve25519 and an AEAD cipher are negotiated', async () => {
  const r = await sshF(cfg, ['-vvv', 'gw', 'hosts', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /will use strict KEX ordering/);
  assert.match(r.stderr, /kex: algorithm: curve25519-sha256/);
  assert.match(r.stderr, /kex: host key algorithm: ssh-ed25519/);
  assert.match(r.stderr, /kex: server->client cipher: chacha20-poly1305@openssh\.com/);
  assert.match(r.stderr, /Remote protocol version 2\.0, remote software version Airlock$/m);
});

test('clients limited to NIST ECDH, group exchange, SHA-1 MACs, CBC or ssh-rsa host keys cannot connect', async () => {
  for (const [opts, why] of [
    [['KexAlgorithms=ecdh-sha2-nistp256,ecdh-sha2-nistp384'], /no matching key exchange method/],
    [['KexAlgorithms=diffie-hellman-group-exchange-sha256,diffie-hellman-group14-sha256'], /no matching key exchange method/],
    [['Ciphers=aes128-ctr', 'MACs=hmac-sha1,hmac-sha2-256'], /no matching MAC/],
    [['Ciphers=aes128-cbc,aes256-cbc'], /no matching cipher/],
    [['HostKeyAlgorithms=ssh-rsa,rsa-sha2-512,ecdsa-sha2-nistp256'], /no matching host key type/],
  ] as const) {
    const r = await sshF(cfg, [...opts.flatMap((o) => ['-o', o]), '-o', 'LogLevel=INFO', 'gw', 'hosts']);
    assert.equal(r.code, 255, opts.join(' '));
    assert.match(r.stderr, why, opts.join(' '));
  }
});
