import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { rmSync } from 'node:fs';
import fc from 'fast-check';
import { formatPublicKey, parsePublicKey, publicKeyFromKeyObject, type PublicKey } from './keys.ts';
import { parseOpenSshPrivateKey } from './private-key.ts';
import { parseSignatureBlob, signSsh, verifySsh, type RsaSignatureAlgorithm } from './signature.ts';
import { SshReader, SshWriter } from './wire.ts';
import { TempDir, hostileBytes } from './ssh-keygen.test-helper.ts';

// SSHSIG (OpenSSH PROTOCOL.sshsig) wraps a plain SSH signature blob, so `ssh-keygen -Y sign/verify`
// is an oracle for signSsh and verifySsh on every key type.
const NAMESPACE = 'file';

function sshsigSignedData(message: Buffer): Buffer {
  return new SshWriter()
    .raw(Buffer.from('SSHSIG'))
    .string(NAMESPACE)
    .string(Buffer.alloc(0))
    .string('sha512')
    .string(createHash('sha512').update(message).digest())
    .toBuffer();
}

function armorSshsig(pk: PublicKey, sigBlob: Buffer): string {
  const body = new SshWriter()
    .raw(Buffer.from('SSHSIG'))
    .uint32(1)
    .string(pk.blob)
    .string(NAMESPACE)
    .string(Buffer.alloc(0))
    .string('sha512')
    .string(sigBlob)
    .toBuffer()
    .toString('base64');
  return `-----BEGIN SSH SIGNATURE-----\n${body.match(/.{1,70}/g)!.join('\n')}\n-----END SSH SIGNATURE-----\n`;
}

function unarmorSshsig(text: string): Buffer {
  const b64 = text.split('\n').filter((l) => l !== '' && !l.startsWith('-----')).join('');
  const r = new SshReader(Buffer.from(b64, 'base64'));
  r.raw(6);
  r.uint32();
  r.string();
  r.string();
  r.string();
  r.string();
  const sig = Buffer.from(r.string());
  r.expectEnd('SSHSIG');
  return sig;
}

let tmp: TempDir;
const keys: { name: string; priv: KeyObject; pk: PublicKey }[] = [];

before(async () => {
  tmp = new TempDir();
  const specs: [string, string[]][] = [
    ['ed25519', ['-t', 'ed25519']],
    ['ecdsa256', ['-t', 'ecdsa', '-b', '256']],
    ['ecdsa384', ['-t', 'ecdsa', '-b', '384']],
    ['ecdsa521', ['-t', 'ecdsa', '-b', '521']],
    ['rsa', ['-t', 'rsa', '-b', '2048']],
  ];
  await Promise.all(specs.map(([name, args]) => tmp.keygenAsync(['-q', ...args, '-N', '', '-C', name, '-f', name])));
  for (const [name] of specs) {
    keys.push({ name, priv: parseOpenSshPrivateKey(tmp.read(name)), pk: parsePublicKey(tmp.read(`${name}.pub`)) });
  }
  tmp.write('allowed', keys.map((k) => `${k.name}@test ${formatPublicKey(k.pk, '')}`).join('\n') + '\n');
  tmp.write('message', 'the message\n');
});

after(() => tmp.remove());

test('signatures made here verify with ssh-keygen -Y verify, for every key type', () => {
  const message = tmp.readBytes('message');
  for (const k of keys) {
    const algs: (RsaSignatureAlgorithm | undefined)[] = k.pk.type === 'ssh-rsa' ? ['rsa-sha2-256', 'rsa-sha2-512'] : [undefined];
    for (const alg of algs) {
      const sig = signSsh(k.priv, sshsigSignedData(message), alg);
      assert.equal(parseSignatureBlob(sig).algorithm, alg ?? k.pk.type);
      assert.ok(verifySsh(k.pk, sshsigSignedData(message), sig));
      tmp.write('message.sig', armorSshsig(k.pk, sig));
      const out = verifyWithKeygen(k.name);
      assert.match(out, /^Good "file" signature/, `${k.name} ${alg ?? ''}`);
    }
  }
});

/** `ssh-keygen -Y verify` reads the message on stdin. */
function verifyWithKeygen(name: string): string {
  const r = tmp.keygenWithInput(['-Y', 'verify', '-f', 'allowed', '-I', `${name}@test`, '-n', NAMESPACE, '-s', 'message.sig'], tmp.readBytes('message'));
  return r.stdout + r.stderr;
}

test('signatures made by ssh-keygen -Y sign verify here; a changed message or key does not', () => {
  const message = tmp.readBytes('message');
  for (const k of keys) {
    rmSync(tmp.path('message.sig'), { force: true });
    tmp.keygenOk(['-q', '-Y', 'sign', '-f', k.name, '-n', NAMESPACE, 'message']);
    const sig = unarmorSshsig(tmp.read('message.sig'));
    assert.ok(verifySsh(k.pk, sshsigSignedData(message), sig), k.name);
    assert.ok(!verifySsh(k.pk, sshsigSignedData(Buffer.from('other')), sig), k.name);
    const other = keys.find((o) => o.pk.type === k.pk.type && o !== k) ?? keys.find((o) => o !== k)!;
    assert.ok(!verifySsh(other.pk, sshsigSignedData(message), sig), k.name);
  }
});

test('verifySsh refuses ssh-rsa (SHA-1) signatures and algorithm/key-type mismatches', () => {
  const rsa = keys.find((k) => k.name === 'rsa')!;
  const data = Buffer.from('data');
  const sha1 = new SshWriter().string('ssh-rsa').string(sign('sha1', data, rsa.priv)).toBuffer();
  assert.equal(verifySsh(rsa.pk, data, sha1), false);
  // A valid rsa-sha2-256 signature relabelled as rsa-sha2-512 fails.
  const s256 = parseSignatureBlob(signSsh(rsa.priv, data, 'rsa-sha2-256'));
  assert.equal(verifySsh(rsa.pk, data, new SshWriter().string('rsa-sha2-512').string(s256.bytes).toBuffer()), false);
  // An ECDSA P-256 signature presented for a P-384 key, and labelled as the other curve.
  const e256 = keys.find((k) => k.name === 'ecdsa256')!;
  const e384 = keys.find((k) => k.name === 'ecdsa384')!;
  const sig256 = signSsh(e256.priv, data);
  assert.equal(verifySsh(e384.pk, data, sig256), false);
  const relabelled = new SshWriter().string('ecdsa-sha2-nistp384').string(parseSignatureBlob(sig256).bytes).toBuffer();
  assert.equal(verifySsh(e384.pk, data, relabelled), false);
  // ed25519 signature for the ed25519 key under another name.
  const ed = keys.find((k) => k.name === 'ed25519')!;
  const edSig = parseSignatureBlob(signSsh(ed.priv, data));
  assert.equal(verifySsh(ed.pk, data, new SshWriter().string('ssh-ed25519').string(edSig.bytes.subarray(0, 63)).toBuffer()), false);
  assert.equal(verifySsh(ed.pk, data, Buffer.concat([signSsh(ed.priv, data), Buffer.from([0])])), false);
});

test('RSA signatures shorter than the modulus are left-padded, as OpenSSH does', () => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pk = publicKeyFromKeyObject(privateKey);
  // Find a message whose signature starts with a zero byte (1 in 256), then strip it.
  for (let i = 0; i < 4000; i++) {
    const data = Buffer.from(`m${i}`);
    const raw = sign('sha512', data, privateKey);
    if (raw[0] !== 0) continue;
    const short = new SshWriter().string('rsa-sha2-512').string(raw.subarray(1)).toBuffer();
    assert.ok(verifySsh(pk, data, short));
    return;
  }
  assert.fail('no signature with a leading zero byte found');
});

test('property: verifySsh never throws on hostile signature blobs', () => {
  const data = Buffer.from('data');
  const valid = keys.map((k) => signSsh(k.priv, data));
  fc.assert(
    fc.property(hostileBytes(valid), fc.nat(keys.length - 1), (b, i) => {
      const result = verifySsh(keys[i]!.pk, data, b);
      assert.equal(typeof result, 'boolean');
      if (result) assert.ok(valid.some((v) => v.equals(b)));
    }),
    { numRuns: 200 },
  );
});
