import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import fc from 'fast-check';
import { formatPublicKey, parsePublicKey, publicKeyFromKeyObject } from './keys.ts';
import { formatOpenSshPrivateKey, openSshPrivateKeyComment, parseOpenSshPrivateKey } from './private-key.ts';
import { signSsh, verifySsh } from './signature.ts';
import { SshReader, SshWriter } from './wire.ts';
import { TempDir, hostileBytes, onlyAirlockErrors, throwsAirlock } from './ssh-keygen.test-helper.ts';

let tmp: TempDir;
const KINDS: [string, string[]][] = [
  ['ed25519', ['-t', 'ed25519']],
  ['ecdsa256', ['-t', 'ecdsa', '-b', '256']],
  ['ecdsa384', ['-t', 'ecdsa', '-b', '384']],
  ['ecdsa521', ['-t', 'ecdsa', '-b', '521']],
  ['rsa', ['-t', 'rsa', '-b', '2048']],
];

before(async () => {
  tmp = new TempDir();
  await Promise.all([
    ...KINDS.map(([name, args]) => tmp.keygenAsync(['-q', ...args, '-N', '', '-C', `${name}@host`, '-f', name])),
    tmp.keygenAsync(['-q', '-t', 'ed25519', '-N', 'secret', '-C', 'enc', '-f', 'encrypted']),
    tmp.keygenAsync(['-q', '-t', 'ecdsa', '-m', 'PEM', '-N', '', '-f', 'pem']),
  ]);
});

after(() => tmp.remove());

function body(text: string): Buffer {
  return Buffer.from(text.split('\n').filter((l) => l !== '' && !l.startsWith('-----')).join(''), 'base64');
}

function armor(b: Buffer): string {
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${(b.toString('base64').match(/.{1,70}/g) ?? []).join('\n')}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

/** The offset of the two check integers inside the decoded body (after magic, cipher, kdf, options, count, public key, section length). */
function checkintOffset(b: Buffer): number {
  const r = new SshReader(b.subarray(15));
  r.string();
  r.string();
  r.string();
  r.uint32();
  r.string();
  r.uint32();
  return 15 + r.offset;
}

test('keys written here are read by ssh-keygen -y and are byte-identical to ssh-keygen\'s own files but for the check integers', () => {
  for (const [name] of KINDS) {
    const original = tmp.read(name);
    const key = parseOpenSshPrivateKey(original);
    assert.equal(formatPublicKey(publicKeyFromKeyObject(key, `${name}@host`)) + '\n', tmp.read(`${name}.pub`));
    assert.equal(openSshPrivateKeyComment(original), `${name}@host`);
    const written = formatOpenSshPrivateKey(key, `${name}@host`);
    for (const line of written.trimEnd().split('\n').slice(1, -1)) assert.ok(line.length <= 70);
    const a = body(written);
    const b = body(original);
    const at = checkintOffset(a);
    assert.ok(a.readUInt32BE(at) === a.readUInt32BE(at + 4));
    a.fill(0, at, at + 8);
    b.fill(0, at, at + 8);
    assert.ok(a.equals(b), `${name}: layout differs from ssh-keygen's`);
    tmp.write(`${name}.written`, written);
    assert.equal(tmp.keygenOk(['-y', '-f', `${name}.written`]), tmp.read(`${name}.pub`));
  }
});

test('node-generated ed25519 keys written here: ssh-keygen -y gives the same public key, and they sign', () => {
  for (let i = 0; i < 3; i++) {
    const { privateKey } = generateKeyPairSync('ed25519');
    const comment = `airlock key ${i}`;
    const text = formatOpenSshPrivateKey(privateKey, comment);
    assert.match(text, /^-----BEGIN OPENSSH PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+\n-----END OPENSSH PRIVATE KEY-----\n$/);
    tmp.write(`node${i}`, text);
    const pk = publicKeyFromKeyObject(privateKey, comment);
    assert.equal(tmp.keygenOk(['-y', '-f', `node${i}`]).trim(), formatPublicKey(pk));
    const back = parseOpenSshPrivateKey(text);
    assert.deepEqual(back.export({ format: 'jwk' }), privateKey.export({ format: 'jwk' }));
    assert.ok(verifySsh(pk, Buffer.from('x'), signSsh(back, Buffer.from('x'))));
  }
});

test('encrypted keys, PEM keys and public keys are refused with a clear message', () => {
  throwsAirlock(() => parseOpenSshPrivateKey(tmp.read('encrypted')), 'invalid_key', /encrypted private keys are not supported here/);
  throwsAirlock(() => parseOpenSshPrivateKey(tmp.read('pem')), 'invalid_key', /PEM/);
  throwsAirlock(() => parseOpenSshPrivateKey(tmp.read('ed25519.pub')), 'invalid_key', /not an OpenSSH private key/);
  throwsAirlock(() => parseOpenSshPrivateKey(''), 'invalid_key');
  throwsAirlock(() => parseOpenSshPrivateKey(`junk\n${tmp.read('ed25519')}`), 'invalid_key', /unexpected text/);
});

test('inconsistent files are refused: check integers, padding, mismatched public key, wrong seed', () => {
  const text = tmp.read('ed25519');
  const b = body(text);
  const at = checkintOffset(b);
  const badCheck = Buffer.from(b);
  badCheck[at] = badCheck[at]! ^ 1;
  throwsAirlock(() => parseOpenSshPrivateKey(armor(badCheck)), 'invalid_key', /check integers differ/);
  const badPad = Buffer.from(b);
  badPad[badPad.length - 1] = 0x42;
  throwsAirlock(() => parseOpenSshPrivateKey(armor(badPad)), 'invalid_key', /padding/);
  // Rebuilt with its own public blob the file still parses; with another key's blob it is refused.
  const r = new SshReader(b.subarray(15));
  r.string();
  r.string();
  r.string();
  r.uint32();
  r.string();
  const section = r.string();
  const rebuild = (publicBlob: Buffer): string =>
    armor(new SshWriter().raw(b.subarray(0, 15)).string('none').string('none').string('').uint32(1).string(publicBlob).string(section).toBuffer());
  assert.equal(parseOpenSshPrivateKey(rebuild(parsePublicKey(tmp.read('ed25519.pub')).blob)).type, 'private');
  throwsAirlock(() => parseOpenSshPrivateKey(rebuild(generatedEd25519Blob())), 'invalid_key', /does not match/);
  // A seed that does not derive the stored public key.
  const wrongSeed = Buffer.from(b);
  const skAt = wrongSeed.indexOf(Buffer.from([0, 0, 0, 64]), at) + 4;
  wrongSeed[skAt] = wrongSeed[skAt]! ^ 1;
  throwsAirlock(() => parseOpenSshPrivateKey(armor(wrongSeed)), 'invalid_key', /does not match/);
  // An ECDSA scalar that is not the stored point's: the same words on every Node (24.22 and 26 refuse
  // such a key when importing a JWK, older ones did not).
  for (const name of ['ecdsa256', 'ecdsa384', 'ecdsa521']) {
    const ec = Buffer.from(body(tmp.read(name)));
    const section = checkintOffset(ec) + 8;
    const fields = new SshReader(ec.subarray(section));
    fields.string();
    fields.string();
    fields.string();
    const dLength = ec.readUInt32BE(section + fields.offset);
    const lastOfD = section + fields.offset + 4 + dLength - 1;
    ec[lastOfD] = ec[lastOfD]! ^ 1;
    throwsAirlock(() => parseOpenSshPrivateKey(armor(ec)), 'invalid_key', /does not match/);
  }
  const twoKeys = Buffer.from(b);
  twoKeys.writeUInt32BE(2, 15 + 8 + 8 + 4); // after magic, "none", "none", empty KDF options
  throwsAirlock(() => parseOpenSshPrivateKey(armor(twoKeys)), 'invalid_key', /exactly one key/);
});

function generatedEd25519Blob(): Buffer {
  return publicKeyFromKeyObject(generateKeyPairSync('ed25519').publicKey).blob;
}

test('property: parseOpenSshPrivateKey returns or throws AirlockError on hostile input', () => {
  const valid = KINDS.slice(0, 2).map(([name]) => body(tmp.read(name)));
  fc.assert(
    fc.property(hostileBytes(valid), (b) => {
      onlyAirlockErrors(() => {
        const k: KeyObject = parseOpenSshPrivateKey(armor(b));
        assert.equal(k.type, 'private');
      });
    }),
    { numRuns: 200 },
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), (s) => {
      onlyAirlockErrors(() => parseOpenSshPrivateKey(s));
      onlyAirlockErrors(() => parseOpenSshPrivateKey(`-----BEGIN OPENSSH PRIVATE KEY-----\n${s}\n-----END OPENSSH PRIVATE KEY-----`));
    }),
    { numRuns: 200 },
  );
});
