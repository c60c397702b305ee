/**
 * The hybrid post-quantum key exchange `mlkem768x25519-sha256` (draft-ietf-sshm-mlkem-hybrid-kex,
 * OpenSSH 9.9+, its default since 10.0), built on Node 24's ML-KEM and X25519. Why hybrid: traffic
 * recorded today stays secret unless *both* ML-KEM-768 (FIPS 203) and X25519 are broken later.
 *
 * Wire format, as OpenSSH's kexmlkem768x25519.c does it:
 *  - client → server (Q_C): ML-KEM-768 encapsulation key (1184 bytes) ‖ X25519 public key (32 bytes)
 *  - server → client (Q_S): ML-KEM-768 ciphertext (1088 bytes) ‖ X25519 public key (32 bytes)
 *  - K = SHA-256(ML-KEM shared secret ‖ X25519 shared secret), encoded as an SSH *string* (not an
 *    mpint) in the exchange hash and the key derivation; ssh2 adds the length prefix itself.
 * These functions are what `registerKeyExchange` (the ssh2 patch, see ssh2-extensions.ts) calls.
 */
import { createHash, createPublicKey, decapsulate, diffieHellman, encapsulate, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { AirlockError } from '../errors.ts';

export const MLKEM768X25519_SHA256 = 'mlkem768x25519-sha256';

const MLKEM768_PUBLIC_BYTES = 1184;
const MLKEM768_CIPHERTEXT_BYTES = 1088;
const X25519_BYTES = 32;

/** The server's answer to a client's public value: its own public value and the shared secret K. */
export interface KexServerResult {
  serverPublic: Buffer;
  /** K without its SSH string length prefix. */
  secret: Buffer;
}

/** A client's ephemeral keys: the public value to send, and K from the server's answer. */
export interface KexClientState {
  clientPublic: Buffer;
  secret(serverPublic: Buffer): Buffer;
}

/** A key exchange method in the shape ssh2's `registerKeyExchange` takes (patches/ssh2+1.17.0.patch). */
export interface ExternalKexMethod {
  hashName: string;
  server(clientPublic: Buffer): KexServerResult;
  client(): KexClientState;
}

// A malformed public value comes from the peer: refused with a message that names the field.
function refuse(message: string, cause?: unknown): AirlockError {
  return new AirlockError('bad_request', `mlkem768x25519-sha256: ${message}`, cause === undefined ? undefined : { cause });
}

function importKey(raw: Buffer, type: 'ml-kem-768' | 'x25519', what: string): KeyObject {
  try {
    // OpenSSL checks an ML-KEM encapsulation key on import (FIPS 203 §7.2 modulus check), as OpenSSH's
    // libcrux_ml_kem_mlkem768_portable_validate_public_key does.
    return createPublicKey({ key: raw, format: 'raw-public', asymmetricKeyType: type });
  } catch (err) {
    throw refuse(`invalid ${what}`, err);
  }
}

function x25519Shared(privateKey: KeyObject, peerRaw: Buffer): Buffer {
  try {
    // OpenSSL refuses an all-zero result (a low-order peer point), like OpenSSH's kexc25519_shared_key_ext.
    return diffieHellman({ privateKey, publicKey: importKey(peerRaw, 'x25519', 'X25519 public key') });
  } catch (err) {
    if (err instanceof AirlockError) throw err;
    throw refuse('X25519 shared secret rejected (low-order point)', err);
  }
}

function combine(kemShared: Buffer, ecdhShared: Buffer): Buffer {
  return createHash('sha256').update(kemShared).update(ecdhShared).digest();
}

/** Server side: encapsulates to the client's ML-KEM key and completes X25519; returns Q_S and K. */
export function mlkem768x25519Server(clientPublic: Buffer): KexServerResult {
  if (clientPublic.length !== MLKEM768_PUBLIC_BYTES + X25519_BYTES) {
    throw refuse(`client public value is ${clientPublic.length} bytes, expected ${MLKEM768_PUBLIC_BYTES + X25519_BYTES}`);
  }
  const kemKey = importKey(clientPublic.subarray(0, MLKEM768_PUBLIC_BYTES), 'ml-kem-768', 'ML-KEM-768 encapsulation key');
  const { sharedKey, ciphertext } = encapsulate(kemKey);
  const ecdh = generateKeyPairSync('x25519');
  const ecdhShared = x25519Shared(ecdh.privateKey, clientPublic.subarray(MLKEM768_PUBLIC_BYTES));
  const serverPublic = Buffer.concat([ciphertext, ecdh.publicKey.export({ format: 'raw-public' })]);
  const secret = combine(sharedKey, ecdhShared);
  sharedKey.fill(0);
  ecdhShared.fill(0);
  return { serverPublic, secret };
}

/** Client side: fresh ML-KEM-768 and X25519 key pairs; `secret()` decapsulates the server's answer. */
export function mlkem768x25519Client(): KexClientState {
  const kem = generateKeyPairSync('ml-kem-768');
  const ecdh = generateKeyPairSync('x25519');
  const clientPublic = Buffer.concat([kem.publicKey.export({ format: 'raw-public' }), ecdh.publicKey.export({ format: 'raw-public' })]);
  return {
    clientPublic,
    secret(serverPublic: Buffer): Buffer {
      if (serverPublic.length !== MLKEM768_CIPHERTEXT_BYTES + X25519_BYTES) {
        throw refuse(`server public value is ${serverPublic.length} bytes, expected ${MLKEM768_CIPHERTEXT_BYTES + X25519_BYTES}`);
      }
      // ML-KEM decapsulation never fails on a wrong ciphertext (implicit rejection): it yields a
      // different secret, and the host key signature over the exchange hash then fails.
      const kemShared = decapsulate(kem.privateKey, serverPublic.subarray(0, MLKEM768_CIPHERTEXT_BYTES));
      const ecdhShared = x25519Shared(ecdh.privateKey, serverPublic.subarray(MLKEM768_CIPHERTEXT_BYTES));
      const secret = combine(kemShared, ecdhShared);
      kemShared.fill(0);
      ecdhShared.fill(0);
      return secret;
    },
  };
}

/** The method object registered with ssh2 under `mlkem768x25519-sha256`. */
export const MLKEM768X25519_METHOD: ExternalKexMethod = {
  hashName: 'sha256',
  server: mlkem768x25519Server,
  client: mlkem768x25519Client,
};
