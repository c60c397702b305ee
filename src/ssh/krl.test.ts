import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import fc from 'fast-check';
import { formatCertificate, parseCertificate, signCertificate, type Certificate } from './certificate.ts';
import { fingerprintSha256, sha256Digest } from './fingerprint.ts';
import { formatPublicKey, publicKeyFromKeyObject, type PublicKey } from './keys.ts';
import { buildKrl, isRevokedInKrl, parseKrl, type KrlSpec } from './krl.ts';
import { SshReader, SshWriter } from './wire.ts';
import { TempDir, hostileBytes, onlyAirlockErrors, throwsAirlock } from './ssh-keygen.test-helper.ts';

let tmp: TempDir;
const T0 = 1_750_000_000n;

interface Ca {
  priv: KeyObject;
  pub: PublicKey;
}

function newKey(): { priv: KeyObject; pub: PublicKey } {
  const { privateKey } = generateKeyPairSync('ed25519');
  return { priv: privateKey, pub: publicKeyFromKeyObject(privateKey) };
}

let caA: Ca;
let caB: Ca;
const keys: PublicKey[] = [];

before(() => {
  tmp = new TempDir();
  caA = newKey();
  caB = newKey();
  for (let i = 0; i < 6; i++) keys.push(newKey().pub);
  tmp.write('caA.pub', formatPublicKey(caA.pub) + '\n');
});

after(() => tmp.remove());

function cert(ca: Ca, serial: bigint, keyId: string, key = keys[0]!): Certificate {
  return signCertificate(
    { type: 'user', publicKey: key, serial, keyId, principals: ['alice'], validAfter: T0, validBefore: T0 + 3600n, criticalOptions: {}, extensions: {} },
    ca.priv,
  );
}

/** Runs `ssh-keygen -Q` over files and returns which are revoked, by file name. */
function keygenQuery(krl: Buffer, subjects: Record<string, string>): Record<string, boolean> {
  tmp.write('query.krl', krl);
  const names = Object.keys(subjects);
  for (const n of names) tmp.write(n, subjects[n]! + '\n');
  const r = tmp.keygen(['-Q', '-f', 'query.krl', ...names]);
  const out: Record<string, boolean> = {};
  for (const line of r.stdout.trim().split('\n')) {
    const m = /^(\S+)(?: \(.*\))?: (REVOKED|ok)$/.exec(line);
    if (m !== null) out[m[1]!] = m[2] === 'REVOKED';
  }
  assert.equal(Object.keys(out).length, names.length, `ssh-keygen -Q said: ${r.stdout}${r.stderr}`);
  assert.equal(r.status, Object.values(out).some((v) => v) ? 1 : 0);
  return out;
}

test('KRLs built here are read by ssh-keygen -Q, and agree with isRevokedInKrl on every subject', () => {
  const subjects: Record<string, Certificate | PublicKey> = {
    'serial-5': cert(caA, 5n, 'u5'),
    'serial-6': cert(caA, 6n, 'u6'),
    'serial-8': cert(caA, 8n, 'u8'),
    'serial-11': cert(caA, 11n, 'u11'),
    'serial-20': cert(caA, 20n, 'u20'),
    'serial-1000': cert(caA, 1000n, 'u1000'),
    'serial-0': cert(caA, 0n, 'zero'),
    'bad-id': cert(caA, 99n, 'bad-id'),
    'other-ca-serial-5': cert(caB, 5n, 'u5'),
    'other-ca-wild-id': cert(caB, 77n, 'wild'),
    'other-ca-fine': cert(caB, 78n, 'fine'),
    'hashed-key': keys[1]!,
    'cert-of-hashed-key': cert(caB, 79n, 'h', keys[1]),
    'explicit-key': keys[2]!,
    'cert-of-explicit-key': cert(caB, 80n, 'e', keys[2]),
    'innocent-key': keys[3]!,
    'cert-of-revoked-ca': cert(caB, 81n, 'c', keys[4]),
  };
  const spec: KrlSpec = {
    version: 3n,
    generatedAt: T0,
    comment: 'airlock test',
    certificates: [
      { caKey: caA.pub.blob, serials: [5n, 7n, 8n, 9n, 10n, 20n, 21n, 999n, 1000n, 1001n], keyIds: ['bad-id'] },
      { caKey: null, serials: [], keyIds: ['wild'] },
    ],
    revokedKeySha256: [sha256Digest(keys[1]!.blob)],
    revokedKeys: [keys[2]!.blob],
  };
  const withRevokedCa: KrlSpec = { ...spec, revokedKeySha256: [...spec.revokedKeySha256, sha256Digest(caB.pub.blob)] };
  const expected: Record<string, boolean> = {
    'serial-5': true,
    'serial-6': false,
    'serial-8': true,
    'serial-11': false,
    'serial-20': true,
    'serial-1000': true,
    'serial-0': false,
    'bad-id': true,
    'other-ca-serial-5': false,
    'other-ca-wild-id': true,
    'other-ca-fine': false,
    'hashed-key': true,
    'cert-of-hashed-key': true,
    'explicit-key': true,
    'cert-of-explicit-key': true,
    'innocent-key': false,
    'cert-of-revoked-ca': false,
  };
  const lines = Object.fromEntries(
    Object.entries(subjects).map(([n, s]) => [n, 'certType' in s ? formatCertificate(s) : formatPublicKey(s)]),
  );
  const here = (krl: KrlSpec): Record<string, boolean> =>
    Object.fromEntries(
      Object.entries(subjects).map(([n, s]) => [n, 'certType' in s ? isRevokedInKrl(krl, { cert: s }) : isRevokedInKrl(krl, { keyBlob: s.blob })]),
    );
  const built = buildKrl(spec);
  assert.deepEqual(keygenQuery(built, lines), expected);
  assert.deepEqual(here(parseKrl(built)), expected);
  // Revoking the CA key by hash revokes every certificate it signed (ssh_krl_check_key).
  const caRevoked = { ...expected };
  for (const n of Object.keys(subjects)) if (n.startsWith('other-ca') || n.startsWith('cert-of')) caRevoked[n] = true;
  const builtCa = buildKrl(withRevokedCa);
  assert.deepEqual(keygenQuery(builtCa, lines), caRevoked);
  assert.deepEqual(here(parseKrl(builtCa)), caRevoked);
  // ssh-keygen's dump shows what was written.
  tmp.write('dump.krl', built);
  const dump = tmp.keygenOk(['-Q', '-l', '-f', 'dump.krl']);
  assert.match(dump, /# KRL version 3\n/);
  assert.match(dump, /# Comment: airlock test\n/);
  assert.match(dump, /serial: 5\nserial: 7-10\nserial: 20-21\nserial: 999-1001\nid: bad-id\n/);
  assert.match(dump, /# Wildcard CA\nid: wild\n/);
  assert.match(dump, new RegExp(`hash: ${fingerprintSha256(keys[2]!.blob).replace(/[+/]/g, '\\$&')} # ssh-ed25519`));
});

test('serials are written compactly: runs of three or more as ranges, the rest as lists', () => {
  const krl = buildKrl({
    version: 1n,
    generatedAt: T0,
    comment: '',
    certificates: [{ caKey: caA.pub.blob, serials: [9n, 1n, 2n, 3n, 4n, 5n, 11n, 12n, 4n], keyIds: ['b', 'a', 'a'] }],
    revokedKeySha256: [],
  });
  const r = new SshReader(krl.subarray(8));
  r.uint32();
  r.uint64();
  r.uint64();
  r.uint64();
  r.string();
  r.string();
  assert.equal(r.uint8(), 1);
  const section = new SshReader(r.string());
  r.expectEnd('KRL');
  assert.ok(section.string().equals(caA.pub.blob));
  assert.equal(section.string().length, 0);
  const subs: [number, string][] = [];
  while (!section.atEnd()) subs.push([section.uint8(), section.string().toString('hex')]);
  assert.deepEqual(subs, [
    [0x21, '0000000000000001' + '0000000000000005'],
    [0x20, '0000000000000009' + '000000000000000b' + '000000000000000c'],
    [0x23, new SshWriter().string('a').string('b').toBuffer().toString('hex')],
  ]);
  const parsed = parseKrl(krl);
  assert.deepEqual(parsed.certificates, [{ caKey: caA.pub.blob, serials: [9n, 11n, 12n], keyIds: ['a', 'b'], serialRanges: [{ min: 1n, max: 5n }] }]);
  assert.ok(buildKrl(parsed).equals(krl));
});

test('KRLs written by ssh-keygen -k parse (lists, ranges, bitmaps, key IDs, keys, hashes) and agree with ssh-keygen -Q', () => {
  const sha1Key = keys[5]!;
  tmp.write('k1.pub', formatPublicKey(keys[1]!) + '\n');
  tmp.write('k2.pub', formatPublicKey(keys[2]!) + '\n');
  tmp.write('k5.pub', formatPublicKey(sha1Key) + '\n');
  const spec = [
    'serial: 1',
    'serial: 10-20',
    'serial: 100',
    ...Array.from({ length: 31 }, (_, i) => `serial: ${200 + 2 * i}`),
    'serial: 5000-1000000',
    'id: someone',
    'id: someone else',
    `key: ${formatPublicKey(keys[2]!)}`,
    `sha256: ${formatPublicKey(keys[1]!)}`,
    `sha1: ${formatPublicKey(sha1Key)}`,
    `hash: ${fingerprintSha256(keys[3]!.blob)}`,
  ].join('\n');
  tmp.write('spec.txt', spec + '\n');
  tmp.keygenOk(['-q', '-k', '-f', 'keygen.krl', '-s', 'caA.pub', '-z', '17', 'spec.txt']);
  const bytes = tmp.readBytes('keygen.krl');
  // ssh-keygen encodes the dense serials as a bitmap: check that this KRL really exercises it.
  assert.ok(bytes.includes(Buffer.from([0x22])), 'expected a bitmap subsection');
  const krl = parseKrl(bytes);
  assert.equal(krl.version, 17n);
  assert.equal(krl.certificates.length, 1);
  const section = krl.certificates[0]!;
  assert.ok(section.caKey!.equals(caA.pub.blob));
  assert.deepEqual(section.keyIds.sort(), ['someone', 'someone else']);
  const revoked = (s: bigint): boolean => isRevokedInKrl(krl, { cert: cert(caA, s, 'x') });
  for (const s of [1n, 10n, 15n, 20n, 100n, 200n, 202n, 260n, 5000n, 777777n, 1000000n]) assert.ok(revoked(s), `serial ${s}`);
  for (const s of [2n, 9n, 21n, 99n, 101n, 201n, 259n, 261n, 4999n, 1000001n]) assert.ok(!revoked(s), `serial ${s}`);
  assert.deepEqual(krl.revokedKeys, [keys[2]!.blob]);
  assert.deepEqual(
    krl.revokedKeySha256.map((h) => h.toString('hex')).sort(),
    [sha256Digest(keys[1]!.blob), sha256Digest(keys[3]!.blob)].map((h) => h.toString('hex')).sort(),
  );
  assert.deepEqual(krl.revokedKeySha1, [createHash('sha1').update(sha1Key.blob).digest()]);
  for (const k of [keys[1]!, keys[2]!, keys[3]!, sha1Key]) assert.ok(isRevokedInKrl(krl, { keyBlob: k.blob }));
  assert.ok(!isRevokedInKrl(krl, { keyBlob: keys[4]!.blob }));
  assert.ok(isRevokedInKrl(krl, { cert: cert(caA, 3n, 'someone else') }));
  // Rebuilt from what was parsed, ssh-keygen reaches the same decisions.
  const rebuilt = buildKrl(krl);
  const lines: Record<string, string> = {
    s1: formatCertificate(cert(caA, 1n, 'x')),
    s2: formatCertificate(cert(caA, 2n, 'x')),
    s202: formatCertificate(cert(caA, 202n, 'x')),
    s203: formatCertificate(cert(caA, 203n, 'x')),
    s6000: formatCertificate(cert(caA, 6000n, 'x')),
    id: formatCertificate(cert(caA, 3n, 'someone')),
    sha1: formatPublicKey(sha1Key),
    k4: formatPublicKey(keys[4]!),
  };
  const want = { s1: true, s2: false, s202: true, s203: false, s6000: true, id: true, sha1: true, k4: false };
  tmp.write('orig.krl', bytes);
  assert.deepEqual(keygenQuery(rebuilt, lines), want);
  assert.deepEqual(keygenQuery(bytes, lines), want);
  // Rebuilding is a fixed point (the bitmap's serials come back as lists and ranges).
  assert.ok(buildKrl(parseKrl(rebuilt)).equals(rebuilt));
});

test('malformed KRLs are refused with clear messages', () => {
  const good = buildKrl({ version: 1n, generatedAt: T0, comment: 'c', certificates: [{ caKey: null, serials: [3n], keyIds: [] }], revokedKeySha256: [] });
  throwsAirlock(() => parseKrl(Buffer.from('SSHKRX\n\0')), 'bad_request', /bad magic/);
  throwsAirlock(() => parseKrl(Buffer.concat([good.subarray(0, 8), Buffer.from([0, 0, 0, 2]), good.subarray(12)])), 'bad_request', /format version 2/);
  throwsAirlock(() => parseKrl(good.subarray(0, good.length - 1)), 'bad_request');
  throwsAirlock(() => parseKrl(Buffer.concat([good, Buffer.from([4, 0, 0, 0, 0, 0, 0, 0, 0])])), 'bad_request', /signed KRLs are not supported/);
  throwsAirlock(() => parseKrl(Buffer.concat([good, Buffer.from([9, 0, 0, 0, 0])])), 'bad_request', /section type 9/);
  const ext = (critical: boolean): Buffer => new SshWriter().uint8(255).string(new SshWriter().string('x@y').boolean(critical).string('').toBuffer()).toBuffer();
  assert.equal(parseKrl(Buffer.concat([good, ext(false)])).comment, 'c');
  throwsAirlock(() => parseKrl(Buffer.concat([good, ext(true)])), 'bad_request', /critical extension section "x@y"/);
  throwsAirlock(() => parseKrl(Buffer.concat([good, new SshWriter().uint8(5).string(new SshWriter().string(Buffer.alloc(31)).toBuffer()).toBuffer()])), 'bad_request', /32 bytes/);
  const certSection = (sub: Buffer): Buffer =>
    Buffer.concat([good.subarray(0, good.indexOf(Buffer.from('c')) + 1), new SshWriter().uint8(1).string(Buffer.concat([new SshWriter().string('').string('').toBuffer(), sub])).toBuffer()]);
  const headerOnly = certSection(Buffer.alloc(0));
  assert.deepEqual(parseKrl(headerOnly).certificates, [{ caKey: null, serials: [], keyIds: [], serialRanges: [] }]);
  throwsAirlock(() => parseKrl(certSection(new SshWriter().uint8(0x20).string(new SshWriter().uint64(0n).toBuffer()).toBuffer())), 'bad_request', /serial 0/);
  throwsAirlock(() => parseKrl(certSection(new SshWriter().uint8(0x21).string(new SshWriter().uint64(9n).uint64(3n).toBuffer()).toBuffer())), 'bad_request', /invalid serial range 9-3/);
  throwsAirlock(() => parseKrl(certSection(new SshWriter().uint8(0x21).string(new SshWriter().uint64(1n).uint64(3n).uint8(0).toBuffer()).toBuffer())), 'bad_request', /trailing/);
  throwsAirlock(() => parseKrl(certSection(new SshWriter().uint8(0x22).string(new SshWriter().uint64(0xfffffffffffffff0n).mpint(Buffer.from([0x7f, 0xff, 0xff])).toBuffer()).toBuffer())), 'bad_request', /2\^64/);
  throwsAirlock(() => parseKrl(certSection(new SshWriter().uint8(0x55).string('').toBuffer())), 'bad_request', /subsection type 85/);
  throwsAirlock(() => buildKrl({ version: 1n, generatedAt: T0, comment: '', certificates: [{ caKey: null, serials: [0n], keyIds: [] }], revokedKeySha256: [] }), 'bad_request', /serial 0/);
  throwsAirlock(() => buildKrl({ version: 1n, generatedAt: T0, comment: '', certificates: [], revokedKeySha256: [Buffer.alloc(20)] }), 'bad_request', /32 bytes/);
  const certBlob = cert(caA, 1n, 'x').blob;
  throwsAirlock(() => buildKrl({ version: 1n, generatedAt: T0, comment: '', certificates: [], revokedKeySha256: [], revokedKeys: [certBlob] }), 'bad_request', /not certificates/);
});

test('property: parseKrl returns or throws AirlockError on hostile bytes', () => {
  tmp.write('spec2.txt', 'serial: 1\nserial: 10-20\nserial: 30\nserial: 32\nserial: 34\nid: x\n');
  tmp.keygenOk(['-q', '-k', '-f', 'p.krl', '-s', 'caA.pub', 'spec2.txt']);
  const valid = [
    tmp.readBytes('p.krl'),
    buildKrl({
      version: 2n,
      generatedAt: T0,
      comment: 'x',
      certificates: [{ caKey: caA.pub.blob, serials: [1n, 2n, 3n, 7n], keyIds: ['k'] }],
      revokedKeySha256: [Buffer.alloc(32, 1)],
      revokedKeys: [keys[0]!.blob],
    }),
  ];
  const probe = parseCertificate(formatCertificate(cert(caA, 2n, 'k')));
  fc.assert(
    fc.property(hostileBytes(valid), (b) => {
      onlyAirlockErrors(() => {
        const krl = parseKrl(b);
        isRevokedInKrl(krl, { cert: probe, keyBlob: keys[0]!.blob });
        buildKrl(krl);
      });
    }),
    { numRuns: 200 },
  );
});
