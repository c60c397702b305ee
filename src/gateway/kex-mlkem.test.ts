import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, decapsulate, diffieHellman, generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { isAirlockError } from '../errors.ts';
import { mlkem768x25519Client, mlkem768x25519Server, MLKEM768X25519_METHOD } from './kex-mlkem.ts';

const raw = (k: import('node:crypto').KeyObject): Buffer => k.export({ format: 'raw-public' });

test('client and server agree on a 32-byte K; the public values have the draft\'s sizes', () => {
  const client = mlkem768x25519Client();
  assert.equal(client.clientPublic.length, 1184 + 32);
  const server = mlkem768x25519Server(client.clientPublic);
  assert.equal(server.serverPublic.length, 1088 + 32);
  assert.equal(server.secret.length, 32);
  assert.deepEqual(client.secret(server.serverPublic), server.secret);
  assert.equal(MLKEM768X25519_METHOD.hashName, 'sha256');
});

test('K = SHA-256(ML-KEM shared secret || X25519 shared secret), computed independently of the module', () => {
  // The client side done by hand, with the layout of OpenSSH's kex_kem_mlkem768x25519_keypair.
  const kem = generateKeyPairSync('ml-kem-768');
  const ecdh = generateKeyPairSync('x25519');
  const { serverPublic, secret } = mlkem768x25519Server(Buffer.concat([raw(kem.publicKey), raw(ecdh.publicKey)]));
  const kemShared = decapsulate(kem.privateKey, serverPublic.subarray(0, 1088));
  const serverX = createPublicKey({ key: serverPublic.subarray(1088), format: 'raw-public', asymmetricKeyType: 'x25519' });
  const ecdhShared = diffieHellman({ privateKey: ecdh.privateKey, publicKey: serverX });
  assert.deepEqual(secret, createHash('sha256').update(kemShared).update(ecdhShared).digest());
  // Not the other order, and not an mpint: a leading zero byte would stay (string encoding).
  assert.notDeepEqual(secret, createHash('sha256').update(ecdhShared).update(kemShared).digest());
});

test('every exchange uses fresh server randomness', () => {
  const client = mlkem768x25519Client();
  const a = mlkem768x25519Server(client.clientPublic);
  const b = mlkem768x25519Server(client.clientPublic);
  assert.notDeepEqual(a.serverPublic, b.serverPublic);
  assert.notDeepEqual(a.secret, b.secret);
});

test('the server refuses client values of the wrong length', () => {
  const good = mlkem768x25519Client().clientPublic;
  for (const bad of [Buffer.alloc(0), good.subarray(0, 1215), Buffer.concat([good, Buffer.alloc(1)]), good.subarray(0, 1184)]) {
    assert.throws(() => mlkem768x25519Server(bad), (e) => isAirlockError(e, 'bad_request') && /1216/.test(e.message));
  }
});

test('the server refuses an ML-KEM key that fails the FIPS 203 modulus check', () => {
  const x = raw(generateKeyPairSync('x25519').publicKey);
  assert.throws(() => mlkem768x25519Server(Buffer.concat([Buffer.alloc(1184, 0xff), x])), (e) => isAirlockError(e, 'bad_request') && /ML-KEM-768 encapsulation key/.test(e.message));
});

test('the server refuses an X25519 low-order point (all-zero shared secret)', () => {
  const kem = raw(generateKeyPairSync('ml-kem-768').publicKey);
  for (const lowOrder of [Buffer.alloc(32), Buffer.concat([Buffer.from([1]), Buffer.alloc(31)])]) {
    assert.throws(() => mlkem768x25519Server(Buffer.concat([kem, lowOrder])), (e) => isAirlockError(e, 'bad_request') && /X25519/.test(e.message));
  }
});

test('the client refuses server values of the wrong length; a tampered ciphertext yields another K', () => {
  const client = mlkem768x25519Client();
  const { serverPublic, secret } = mlkem768x25519Server(client.clientPublic);
  assert.throws(() => client.secret(serverPublic.subarray(1)), (e) => isAirlockError(e, 'bad_request'));
  const tampered = Buffer.from(serverPublic);
  tampered[10]! ^= 1;
  // ML-KEM's implicit rejection: no error, a different secret (the host key signature then fails).
  assert.notDeepEqual(client.secret(tampered), secret);
});

test('property: any 1216-byte client value gives a well-formed answer or a bad_request, nothing else', () => {
  const x = raw(generateKeyPairSync('x25519').publicKey);
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1216, maxLength: 1216 }), fc.boolean(), (bytes, keepX) => {
      const input = Buffer.from(bytes);
      if (keepX) x.copy(input, 1184);
      try {
        const r = mlkem768x25519Server(input);
        return r.serverPublic.length === 1120 && r.secret.length === 32;
      } catch (e) {
        return isAirlockError(e, 'bad_request');
      }
    }),
    { numRuns: 100 },
  );
});
