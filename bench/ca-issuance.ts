/**
 * Certificate issuance benchmark: raw signing per second (Airlock's CA code in-process, against
 * OpenSSH's `ssh-keygen -s` run the way scripts run it), and certificates per second through the HTTP API
 * of a real `airlock serve` process (sign-in excluded), with latency percentiles.
 *
 *   npm run bench:ca                   # defaults: 2,000 API requests from 400 users, concurrency 16
 *   BENCH_REQUESTS=5000 npm run bench:ca
 */
import { generateKeyPairSync, createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { signCertificate } from '../src/ssh/certificate.ts';
import { publicKeyFromKeyObject, formatPublicKey } from '../src/ssh/keys.ts';
import { formatOpenSshPrivateKey } from '../src/ssh/private-key.ts';
import { enrolUser } from '../src/identity/enrolment.ts';
import { LOW_COST_FOR_TESTS } from '../src/identity/password.ts';
import { openCore } from '../src/server.ts';
import { loadConfig } from '../src/config.ts';
import { startAirlock } from '../test/harness/airlock.ts';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 2000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-ca-'));

/** User + system CPU seconds a process has used so far (Linux /proc). */
function processCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

try {
  // --- Raw signing: Airlock in-process -------------------------------------------------------------
  const ca = generateKeyPairSync('ed25519').privateKey;
  const subject = publicKeyFromKeyObject(generateKeyPairSync('ed25519').publicKey);
  const now = BigInt(Math.floor(Date.now() / 1000));
  const fields = { type: 'user' as const, publicKey: subject, keyId: 'bench', principals: ['alice'], validAfter: now, validBefore: now + 86400n, criticalOptions: {}, extensions: { 'permit-pty': '', 'permit-port-forwarding': '' } };
  for (let i = 0; i < 500; i++) signCertificate({ ...fields, serial: BigInt(i + 1) }, ca); // warm-up
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 2000) signCertificate({ ...fields, serial: BigInt(++n) }, ca);
  const rawPerSec = n / ((performance.now() - t0) / 1000);

  // --- Raw signing: ssh-keygen -s, one process per certificate ---------------------------------------
  const caFile = join(dir, 'ca');
  writeFileSync(caFile, formatOpenSshPrivateKey(ca, 'ca'), { mode: 0o600 });
  const userPub = join(dir, 'user.pub');
  writeFileSync(userPub, formatPublicKey(subject, 'u') + '\n');
  const K = 100;
  const t1 = performance.now();
  for (let i = 0; i < K; i++) {
    const r = spawnSync('ssh-keygen', ['-q', '-s', caFile, '-I', 'bench', '-n', 'alice', '-V', '+1d', '-z', String(i + 1), userPub]);
    if (r.status !== 0) throw new Error(`ssh-keygen -s failed: ${r.stderr.toString()}`);
  }
  const keygenPerSec = K / ((performance.now() - t1) / 1000);

  // --- Through the HTTP API of a real airlock serve ----------------------------------------------------
  // Many users at the default quota (5 a day), as on a real platform; their sessions are created through
  // the same token service that sign-in uses, because sign-in itself is not what is measured here.
  const dataDir = join(dir, 'data');
  const server = await startAirlock(dataDir, process.env.BENCH_SERVER_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_SERVER_NODE_OPTIONS } : {});
  let apiPerSec = 0;
  let apiPerCpuSec = 0;
  let lat: number[] = [];
  try {
    const core = await openCore(loadConfig({ env: {}, flags: { data_dir: dataDir } }), { log: null });
    const tokens: string[] = [];
    try {
      for (let u = 0; u < Math.ceil(REQUESTS / 5); u++) {
        const { user } = await enrolUser(core.store, { name: `bench${u}`, email: null, isAdmin: false, password: 'benchmark password 123' }, core.clock, { kdfCost: LOW_COST_FOR_TESTS });
        tokens.push((await core.tokens.issue(user, { kind: 'session', ttlMs: 3_600_000 })).token);
      }
    } finally {
      await core.close();
    }
    const keys = Array.from({ length: REQUESTS }, () => formatPublicKey(publicKeyFromKeyObject(createPublicKey(generateKeyPairSync('ed25519').privateKey))));
    let next = 0;
    const cpu0 = processCpuSeconds(server.pid);
    const t2 = performance.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < keys.length) {
        const i = next++;
        const s = performance.now();
        const res = await fetch(`${server.httpUrl}/api/v1/certificates`, { method: 'POST', headers: { authorization: `Bearer ${tokens[i % tokens.length]!}`, 'content-type': 'application/json' }, body: JSON.stringify({ public_key: keys[i]! }) });
        if (res.status !== 201) throw new Error(`issuance failed: ${res.status} ${await res.text()}`);
        await res.arrayBuffer();
        lat.push(performance.now() - s);
      }
    }));
    apiPerSec = REQUESTS / ((performance.now() - t2) / 1000);
    apiPerCpuSec = REQUESTS / (processCpuSeconds(server.pid) - cpu0);
    lat = lat.sort((a, b) => a - b);
  } finally {
    await server.stop();
  }

  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(`# Certificate issuance (${new Date().toISOString()}, ${cpus().length} × ${cpu}, Node ${process.version})`);
  console.log(`raw signing, Airlock (in-process, Ed25519 CA):   ${rawPerSec.toFixed(0)} certificates/s`);
  console.log(`raw signing, ssh-keygen -s (process per cert):   ${keygenPerSec.toFixed(0)} certificates/s`);
  console.log(`ratio Airlock / ssh-keygen:                      ${(rawPerSec / keygenPerSec).toFixed(1)}x`);
  console.log(`HTTP API, POST /api/v1/certificates (${REQUESTS} requests, concurrency ${CONCURRENCY}, one server process, SQLite, ${Math.ceil(REQUESTS / 5)} users at 5 a day):`);
  console.log(`  ${apiPerSec.toFixed(0)} certificates/s wall clock (client and server share the 2 cores); ${apiPerCpuSec.toFixed(0)} certificates per CPU-second of the server process`);
  console.log(`  latency p50 ${percentile(lat, 50).toFixed(1)} ms, p95 ${percentile(lat, 95).toFixed(1)} ms, p99 ${percentile(lat, 99).toFixed(1)} ms`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
