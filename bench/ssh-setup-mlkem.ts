/**
 * Gateway hop set-up time with and without ML-KEM: wall time of `ssh gw help` (process start, TCP,
 * key exchange, host certificate check, certificate login, one lobby command, exit) against the real
 * service started in this process, with the OpenSSH 10 client negotiating mlkem768x25519-sha256, the same
 * client forced to curve25519-sha256, and Debian 12's OpenSSH 9.2 (curve25519). Runs are interleaved so
 * that load on the machine hits all variants alike. Then the server's CPU per key exchange, in-process.
 *
 *   node bench/ssh-setup-mlkem.ts            # 30 connections per variant
 *   BENCH_CONNECTIONS=100 node bench/ssh-setup-mlkem.ts
 *
 * Needs .cache/openssh10 (scripts/fetch-openssh10.sh).
 */
import { createPublicKey, diffieHellman, generateKeyPairSync } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../test/harness/airlock.ts';
import { run } from '../test/harness/processes.ts';
import { startTestGateway, writeSshConfig } from '../test/harness/gateway.ts';
import { formatPublicKey } from '../src/ssh/keys.ts';
import { mlkem768x25519Client, mlkem768x25519Server } from '../src/gateway/kex-mlkem.ts';

const N = Number(process.env.BENCH_CONNECTIONS ?? 30);
const SSH10 = join(ROOT, '.cache', 'openssh10', 'usr', 'bin', 'ssh');
if (!existsSync(SSH10)) {
  console.error('bench: needs the OpenSSH 10 client in .cache/openssh10; run scripts/fetch-openssh10.sh');
  process.exit(2);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const gw = await startTestGateway({ AIRLOCK_GATEWAY_PENALTIES: 'off', AIRLOCK_GATEWAY_MAX_UNAUTH_PER_ADDRESS: '1000' });
try {
  const alice = await gw.user('alice');
  const kh = join(gw.dir, 'known_hosts.ca');
  writeFileSync(kh, `@cert-authority * ${formatPublicKey(gw.server.core.ca.hostCaKey)}\n`);
  const cfg = writeSshConfig(join(gw.dir, 'ssh_config.bench'), kh, [{ alias: 'gw', hostName: gw.host, port: gw.port, user: 'alice', key: alice }]);

  const variants = [
    { name: 'OpenSSH 10, mlkem768x25519-sha256', bin: SSH10, args: [] as string[], expect: 'mlkem768x25519-sha256' },
    { name: 'OpenSSH 10, curve25519-sha256', bin: SSH10, args: ['-o', 'KexAlgorithms=curve25519-sha256'], expect: 'curve25519-sha256' },
    { name: 'OpenSSH 9.2, curve25519-sha256', bin: 'ssh', args: [], expect: 'curve25519-sha256' },
  ];
  // Check each variant negotiates what it claims before timing it.
  for (const v of variants) {
    const r = await run(v.bin, ['-F', cfg, '-v', ...v.args, 'gw', 'help'], { env: { ...process.env, SSH_AUTH_SOCK: '' } });
    const kex = /kex: algorithm: (\S+)/.exec(r.stderr)?.[1];
    if (r.code !== 0 || kex !== v.expect) throw new Error(`${v.name}: exit ${r.code}, kex ${kex}\n${r.stderr}`);
  }
  const times = variants.map(() => [] as number[]);
  for (let i = 0; i < N; i++) {
    for (const [j, v] of variants.entries()) {
      const t0 = process.hrtime.bigint();
      const r = await run(v.bin, ['-F', cfg, ...v.args, 'gw', 'help'], { env: { ...process.env, SSH_AUTH_SOCK: '' } });
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (r.code !== 0) throw new Error(`${v.name}: exit ${r.code}\n${r.stderr}`);
      times[j]!.push(ms);
    }
  }
  console.log(`\nGateway hop set-up, \`ssh gw help\` wall time, ${N} connections each (interleaved):\n`);
  console.log('| client, key exchange | p50 | p95 | min |');
  console.log('|---|---|---|---|');
  for (const [j, v] of variants.entries()) {
    const s = [...times[j]!].sort((a, b) => a - b);
    console.log(`| ${v.name} | ${percentile(s, 50).toFixed(1)} ms | ${percentile(s, 95).toFixed(1)} ms | ${s[0]!.toFixed(1)} ms |`);
  }

  // Server CPU per key exchange: what the gateway computes for one client's public value. Batches, and
  // the fastest batch reported, so that other load on the machine counts least.
  const BATCHES = 7;
  const ROUNDS = 200;
  const mlClients = Array.from({ length: ROUNDS }, () => mlkem768x25519Client().clientPublic);
  const xClients = Array.from({ length: ROUNDS }, () => generateKeyPairSync('x25519').publicKey.export({ format: 'raw-public' }));
  const perOp = (fn: () => void): { best: number; median: number } => {
    const batches: number[] = [];
    for (let b = 0; b < BATCHES; b++) {
      const t0 = process.hrtime.bigint();
      fn();
      batches.push(Number(process.hrtime.bigint() - t0) / 1e3 / ROUNDS);
    }
    batches.sort((a, b) => a - b);
    return { best: batches[0]!, median: batches[Math.floor(BATCHES / 2)]! };
  };
  const ml = perOp(() => {
    for (const c of mlClients) mlkem768x25519Server(c);
  });
  const x = perOp(() => {
    for (const c of xClients) {
      const kp = generateKeyPairSync('x25519');
      diffieHellman({ privateKey: kp.privateKey, publicKey: createPublicKey({ key: c, format: 'raw-public', asymmetricKeyType: 'x25519' }) });
      kp.publicKey.export({ format: 'raw-public' });
    }
  });
  console.log(`\nServer-side key exchange arithmetic, in-process, ${BATCHES} batches of ${ROUNDS}:\n`);
  console.log('| method | per exchange, best batch | median batch |');
  console.log('|---|---|---|');
  console.log(`| mlkem768x25519-sha256 (encapsulate + X25519 + SHA-256) | ${ml.best.toFixed(0)} µs | ${ml.median.toFixed(0)} µs |`);
  console.log(`| curve25519-sha256 (X25519 key pair + shared secret) | ${x.best.toFixed(0)} µs | ${x.median.toFixed(0)} µs |`);
  console.log(`\nBytes on the wire for the exchange: ML-KEM 1216 up + 1120 down; curve25519 32 + 32.`);
} finally {
  await gw.stop();
}
