/**
 * The SSH algorithms the gateway offers, pinned (checklist 1). ssh2's defaults include NIST ECDH,
 * SHA-1 MACs, `ssh-rsa` host signatures and diffie-hellman group exchange, which its server side cannot
 * complete; none of that is offered here. Curve25519 key exchange, an Ed25519 host key, AEAD or CTR
 * ciphers with encrypt-then-MAC SHA-2, no compression (nothing to compress before authentication,
 * and compression oracles after it). Strict KEX (`kex-strict-s-v00@openssh.com`, the Terrapin
 * countermeasure) is appended by ssh2 itself. The post-quantum hybrid `mlkem768x25519-sha256` comes
 * first (OpenSSH 9.9+; ssh2-extensions.ts registers it with ssh2, whose typings do not know it), with
 * curve25519 as the fallback for older clients. The host certificate is offered next to the plain
 * Ed25519 key by ssh2-extensions.ts, not through this list.
 */
import type { Algorithms, KexAlgorithm } from 'ssh2';
import { MLKEM768X25519_SHA256 } from './kex-mlkem.ts';

export const GATEWAY_ALGORITHMS: Algorithms = {
  kex: [MLKEM768X25519_SHA256 as KexAlgorithm, 'curve25519-sha256', 'curve25519-sha256@libssh.org'],
  serverHostKey: ['ssh-ed25519'],
  cipher: ['chacha20-poly1305@openssh.com', 'aes256-gcm@openssh.com', 'aes128-gcm@openssh.com', 'aes256-ctr', 'aes128-ctr'],
  hmac: ['hmac-sha2-256-etm@openssh.com', 'hmac-sha2-512-etm@openssh.com'],
  compress: ['none'],
};

/** The software name in the identification string: `SSH-2.0-Airlock`, no version to fingerprint. */
export const GATEWAY_IDENT = 'Airlock';
