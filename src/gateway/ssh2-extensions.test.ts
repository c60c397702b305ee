/**
 * The ssh2 patch is what we think it is (version and files), and what it adds works between ssh2's own
 * client and server: ML-KEM key exchange (first and on rekey), a host certificate signing as ssh-ed25519,
 * the plain key still offered, server-sig-algs as configured, and agent channels opened towards a client
 * (to a real ssh-agent). Real OpenSSH clients are in
 * test/integration/ssh-engine-*.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { connect as tcpConnect } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import ssh2 from 'ssh2';
import type { Connection, ClientChannel, KexAlgorithm, ServerHostKeyAlgorithm } from 'ssh2';
import { signCertificate, type Certificate } from '../ssh/certificate.ts';
import { formatPublicKey, publicKeyFromKeyObject } from '../ssh/keys.ts';
import { ssh } from '../../test/harness/ssh-client.ts';
import { formatOpenSshPrivateKey } from '../ssh/private-key.ts';
import { SshWriter } from '../ssh/wire.ts';
import { extendServerConfig, installSsh2Extensions, openAuthAgentChannel, SERVER_SIG_ALGS, SSH2_PATCHED_VERSION, ssh2ExtensionProblem, type Ssh2HostKeyProvider } from './ssh2-extensions.ts';
import { startSshAgent } from '../../test/harness/ssh-agent.ts';
import { GATEWAY_ALGORITHMS } from './algorithms.ts';
import { onServerStream, packet } from '../../test/harness/raw-ssh.ts';

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ssh2Dir = dirname(require.resolve('ssh2/package.json'));
const patchFile = join(root, 'patches', `ssh2+${SSH2_PATCHED_VERSION}.patch`);

test('the installed ssh2 is the version the patch is for', () => {
  const pkg = JSON.parse(readFileSync(join(ssh2Dir, 'package.json'), 'utf8')) as { version: string };
  assert.equal(pkg.version, SSH2_PATCHED_VERSION, `ssh2 ${pkg.version} installed; carry patches/ssh2+${SSH2_PATCHED_VERSION}.patch over (docs/ssh2-extensions.md)`);
  const declared = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies.ssh2;
  // package.json must not let npm pick a newer ssh2 the patch was not written for.
  assert.equal(declared, SSH2_PATCHED_VERSION, 'pin ssh2 exactly in package.json');
});

test('node_modules/ssh2 is exactly ssh2 1.17.0 plus patches/ssh2+1.17.0.patch (apply-patches --dry-run)', () => {
  // The install's own applier, which finds a patch applied only when every hunk's patched lines stand
  // exactly at their line numbers (no fuzz, no offsets).
  const res = spawnSync(process.execPath, [join(root, 'scripts', 'apply-patches.mjs'), '--dry-run'], { encoding: 'utf8' });
  assert.equal(res.status, 0, `the installed ssh2 is not 1.17.0 + patch\n${res.stdout}${res.stderr}`);
  assert.match(res.stdout, new RegExp(`^airlock: ${basename(patchFile).replace(/[+.]/g, '\\$&')} already applied$`, 'm'));
  assert.equal(ssh2ExtensionProblem(), undefined);
});

interface Pair {
  cert: Certificate;
  provider: Ssh2HostKeyProvider;
  plainKeyText: string;
  plainBlob: Buffer;
}

function hostKeys(): Pair {
  const host = generateKeyPairSync('ed25519');
  const ca = generateKeyPairSync('ed25519');
  const now = BigInt(Math.floor(Date.now() / 1000));
  const publicKey = publicKeyFromKeyObject(host.privateKey);
  const cert = signCertificate({ type: 'host', publicKey, serial: 7n, keyId: 'test', principals: ['127.0.0.1'], validAfter: now - 60n, validBefore: now + 3600n, criticalOptions: {}, extensions: {} }, ca.privateKey);
  return {
    cert,
    plainKeyText: formatOpenSshPrivateKey(host.privateKey, 'test'),
    plainBlob: publicKey.blob,
    provider: { type: 'ssh-ed25519-cert-v01@openssh.com', signatureAlgo: 'ssh-ed25519', getPublicSSH: () => cert.blob, sign: (d: Buffer) => sign(null, d, host.privateKey) },
  };
}

interface TestServer {
  port: number;
  kex: string[];
  conn: Promise<Connection>;
  close(): Promise<void>;
}

/** An ssh2 server with the extensions: the host certificate and the plain key, an echoing exec. */
async function startTestServer(keys: Pair, opts: { kexinitReplyDelayMs?: number } = {}): Promise<TestServer> {
  installSsh2Extensions();
  const kex: string[] = [];
  let gotConn: (c: Connection) => void = () => {};
  const conn = new Promise<Connection>((r) => (gotConn = r));
  const server = new ssh2.Server(
    extendServerConfig({ hostKeys: [keys.plainKeyText], algorithms: GATEWAY_ALGORITHMS, ident: 'Airlock' }, { hostKeyProviders: [keys.provider], serverSigAlgs: SERVER_SIG_ALGS, ...opts }),
    (c) => {
      gotConn(c);
      c.on('error', () => {});
      c.on('handshake', (n: { kex: string }) => kex.push(n.kex));
      c.on('authentication', (ctx) => (ctx.method === 'none' ? ctx.accept() : ctx.reject()));
      c.on('session', (accept) => {
        const session = accept();
        session.on('exec', (ok) => {
          const ch = ok();
          // Echo the client's bytes back, then end: enough traffic to cross a rekey.
          ch.on('data', (d: Buffer) => ch.write(d));
          ch.on('end', () => {
            ch.exit(0);
            ch.end();
          });
        });
      });
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    kex,
    conn,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

interface Session {
  hostKey: Buffer;
  serverSigAlgs: string[] | undefined;
  client: InstanceType<typeof ssh2.Client>;
}

/** ssh2's client, offering `clientKex`; records the host key and server-sig-algs it receives. */
async function connect(port: number, clientKex: string[]): Promise<Session> {
  const client = new ssh2.Client();
  client.on('error', () => {});
  let hostKey: Buffer | undefined;
  let serverSigAlgs: string[] | undefined;
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve());
    client.once('error', reject);
    client.connect({
      host: '127.0.0.1', port, username: 'u',
      // ssh2's typings list only the names it ships; the patched registry adds mlkem768x25519-sha256.
      algorithms: { kex: clientKex as KexAlgorithm[], serverHostKey: ['ssh-ed25519'] as ServerHostKeyAlgorithm[] },
      hostVerifier: (key: Buffer) => {
        hostKey = key;
        return true;
      },
    });
    // Test-only peek at the client's EXT_INFO handler (ssh2 keeps server-sig-algs to itself).
    const proto = (client as unknown as { _protocol: { _handlers: Record<string, (p: unknown, exts: { name: string; algs: string[] }[]) => void> } })._protocol;
    const original = proto._handlers.EXT_INFO!;
    proto._handlers.EXT_INFO = (p, exts) => {
      serverSigAlgs = exts.find((e) => e.name === 'server-sig-algs')?.algs;
      original(p, exts);
    };
  });
  return { hostKey: hostKey!, serverSigAlgs, client };
}

function echo(client: InstanceType<typeof ssh2.Client>, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    client.exec('echo', (err, ch: ClientChannel) => {
      if (err) return reject(err);
      const chunks: Buffer[] = [];
      ch.on('data', (d: Buffer) => chunks.push(d));
      ch.on('close', () => resolve(Buffer.concat(chunks)));
      ch.end(bytes);
    });
  });
}

// ssh2's client cannot verify host certificates (it expects the signature under the certificate's
// name), so here it is offered only the plain key; OpenSSH checks the certificate below.
test('ML-KEM key exchange, server-sig-algs as configured, then a rekey with ML-KEM during traffic', async () => {
  const keys = hostKeys();
  const srv = await startTestServer(keys);
  let s: Session | undefined;
  try {
    s = await connect(srv.port, ['mlkem768x25519-sha256', 'curve25519-sha256']);
    assert.deepEqual(srv.kex, ['mlkem768x25519-sha256']);
    assert.deepEqual(s.hostKey, keys.plainBlob);
    assert.deepEqual(s.serverSigAlgs, [...SERVER_SIG_ALGS]);
    const conn = await srv.conn;
    const data = Buffer.alloc(4 * 1024 * 1024, 0x5a);
    const rekeyed = new Promise<void>((r) => conn.once('rekey', () => r()));
    const echoed = echo(s.client, data);
    conn.rekey();
    await rekeyed;
    assert.deepEqual(await echoed, data);
    assert.deepEqual(srv.kex, ['mlkem768x25519-sha256', 'mlkem768x25519-sha256']);
  } finally {
    s?.client.end();
    await srv.close();
  }
});

test('a client without ML-KEM gets curve25519', async () => {
  const srv = await startTestServer(hostKeys());
  let s: Session | undefined;
  try {
    s = await connect(srv.port, ['curve25519-sha256']);
    assert.deepEqual(srv.kex, ['curve25519-sha256']);
  } finally {
    s?.client.end();
    await srv.close();
  }
});

test('OpenSSH verifies the host certificate: K_S is the certificate, the signature is ssh-ed25519', async () => {
  const keys = hostKeys();
  const srv = await startTestServer(keys);
  const dir = mkdtempSync(join(tmpdir(), 'airlock-ssh2ext-'));
  try {
    const knownHosts = join(dir, 'known_hosts');
    writeFileSync(knownHosts, `@cert-authority * ${formatPublicKey(keys.cert.signatureKey)}\n`);
    // StrictHostKeyChecking=yes and no plain key line: only a verified certificate lets it through.
    const r = await ssh(['-v', '-p', String(srv.port), 'u@127.0.0.1', 'true'], { knownHosts });
    assert.match(r.stderr, /kex: host key algorithm: ssh-ed25519-cert-v01@openssh.com/);
    assert.match(r.stderr, /matches the ED25519-CERT host certificate/);
    assert.equal(r.code, 0, r.stderr);
  } finally {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A raw client that sends a KEXINIT for ML-KEM and then `clientPublic`; returns the server's packet types and the DISCONNECT reason. */
async function rawMlkemInit(port: number, clientPublic: Buffer): Promise<{ types: number[]; reason: number | undefined }> {
  const w = new SshWriter().raw(Buffer.from([20])).raw(randomBytes(16));
  for (const list of [['mlkem768x25519-sha256'], ['ssh-ed25519'], ['aes128-ctr'], ['aes128-ctr'], ['hmac-sha2-256-etm@openssh.com'], ['hmac-sha2-256-etm@openssh.com'], ['none'], ['none'], [], []]) w.string(list.join(','));
  const kexinit = w.raw(Buffer.from([0])).uint32(0).toBuffer();
  const init = new SshWriter().raw(Buffer.from([30])).string(clientPublic).toBuffer();
  const socket = tcpConnect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  const types: number[] = [];
  let reason: number | undefined;
  onServerStream(socket, (payload) => {
    types.push(payload[0]!);
    if (payload[0] === 1) reason = payload.readUInt32BE(1);
  });
  socket.write(Buffer.concat([Buffer.from('SSH-2.0-Probe\r\n'), packet(kexinit), packet(init)]));
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      socket.destroy();
      resolve();
    }, 5000);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return { types, reason };
}

test('a malformed ML-KEM client value ends the key exchange with KEY_EXCHANGE_FAILED; the server goes on', async () => {
  const srv = await startTestServer(hostKeys());
  try {
    const x = generateKeyPairSync('x25519').publicKey.export({ format: 'raw-public' });
    for (const bad of [Buffer.concat([Buffer.alloc(1184, 0xff), x]), Buffer.alloc(100, 1)]) {
      const r = await rawMlkemInit(srv.port, bad);
      // The server's KEXINIT, then DISCONNECT with SSH_DISCONNECT_KEY_EXCHANGE_FAILED (3); no reply.
      assert.deepEqual(r.types, [20, 1]);
      assert.equal(r.reason, 3);
    }
    const s = await connect(srv.port, ['mlkem768x25519-sha256']);
    s.client.end();
  } finally {
    await srv.close();
  }
});

test('the gateway offers ML-KEM first and keeps curve25519 as fallback', () => {
  const kex = GATEWAY_ALGORITHMS.kex as string[];
  assert.equal(kex[0], 'mlkem768x25519-sha256');
  assert.ok(kex.includes('curve25519-sha256') && kex.includes('curve25519-sha256@libssh.org'));
});

/** Milliseconds from sending `first` until the server's KEXINIT (message 20) arrives, or null within `limitMs`. */
async function serverKexinitAfter(port: number, first: Buffer, limitMs: number): Promise<number | null> {
  const socket = tcpConnect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  const t0 = performance.now();
  socket.write(first);
  try {
    return await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), limitMs);
      onServerStream(socket, (payload) => {
        if (payload[0] === 20) {
          clearTimeout(timer);
          resolve(performance.now() - t0);
        }
      });
    });
  } finally {
    socket.destroy();
  }
}

test('the first KEXINIT answers the client\'s; a client that waits for the server gets it after the delay', async () => {
  // A long delay makes the two cases unmistakable on a loaded machine (the gateway uses 50 ms).
  const srv = await startTestServer(hostKeys(), { kexinitReplyDelayMs: 1500 });
  try {
    const w = new SshWriter().raw(Buffer.from([20])).raw(randomBytes(16));
    for (const list of [['curve25519-sha256'], ['ssh-ed25519'], ['aes128-ctr'], ['aes128-ctr'], ['hmac-sha2-256-etm@openssh.com'], ['hmac-sha2-256-etm@openssh.com'], ['none'], ['none'], [], []]) w.string(list.join(','));
    const kexinit = packet(w.raw(Buffer.from([0])).uint32(0).toBuffer());
    const banner = Buffer.from('SSH-2.0-Probe\r\n');
    // OpenSSH's way: banner and KEXINIT at once. The reply comes at once, not after the delay.
    const answered = await serverKexinitAfter(srv.port, Buffer.concat([banner, kexinit]), 5000);
    assert.ok(answered !== null && answered < 1000, `server KEXINIT after ${answered} ms`);
    // A client that sends only its banner and waits: nothing before the delay, then the KEXINIT.
    const waited = await serverKexinitAfter(srv.port, banner, 6000);
    assert.ok(waited !== null && waited >= 1490 && waited < 5000, `server KEXINIT after ${waited} ms`);
  } finally {
    await srv.close();
  }
});

test('the server opens an auth-agent@openssh.com channel to a client that forwards its agent (a real ssh-agent answers through it)', async () => {
  installSsh2Extensions();
  const dir = mkdtempSync(join(tmpdir(), 'airlock-ssh2agent-'));
  const agent = await startSshAgent(dir, 'fwd');
  const server = new ssh2.Server({ hostKeys: [hostKeys().plainKeyText] }, (c) => {
    c.on('error', () => {});
    c.on('authentication', (ctx) => ctx.accept());
    c.on('ready', () => c.on('session', (accept) => {
      const session = accept();
      session.on('auth-agent', (ok) => ok?.());
      session.on('exec', (ok) => {
        const ch = ok();
        openAuthAgentChannel(c, (err, agentChannel) => {
          if (err) return ch.end(`error: ${err.message}`);
          // SSH2_AGENTC_REQUEST_IDENTITIES; the answer (SSH2_AGENT_IDENTITIES_ANSWER = 12) goes back to the exec.
          agentChannel.once('data', (d: Buffer) => {
            ch.end(`type ${d[4]} keys ${d.readUInt32BE(5)}`);
            agentChannel.end();
          });
          agentChannel.write(Buffer.from([0, 0, 0, 1, 11]));
        });
      });
    }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = new ssh2.Client();
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('ready', () => resolve());
      client.once('error', reject);
      client.connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, username: 'u', agent: agent.sock, agentForward: true, hostVerifier: () => true });
    });
    const answer = await new Promise<string>((resolve, reject) => client.exec('x', (err, ch) => {
      if (err) return reject(err);
      let out = '';
      ch.on('data', (d: Buffer) => (out += d.toString()));
      ch.on('close', () => resolve(out));
    }));
    assert.equal(answer, 'type 12 keys 1');
  } finally {
    client.end();
    agent.stop();
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  }
});
