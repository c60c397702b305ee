/**
 * The SSH algorithms the gateway offers, pinned (checklist 1). ssh2's defaults include NIST ECDH,
 * SHA-1 MACs, `ssh-rsa` host signatures and diffie-hellman group exchange, which its server side cannot
 * complete; none of that is offered here. Curve25519 key exchange, an Ed25519 host key, AEAD or CTR
 * ciphers with encrypt-then-MAC SHA-2, no compression (nothing to compress before authentication,
 * and compression oracles after it). Strict KEX (`kex-strict-s-v00@openssh.com`, the Terrapin
 * countermeasure) is appended by ssh2 itself.
 */
import type { Algorithms } from 'ssh2';

export const GATEWAY_ALGORITHMS: Algorithms = {
  kex: ['curve25519-sha256', 'curve25519-sha256@libssh.org'],
  serverHostKey: ['ssh-ed25519'],
  cipher: ['chacha20-poly1305@openssh.com', 'aes256-gcm@openssh.com', 'aes128-gcm@openssh.com', 'aes256-ctr', 'aes128-ctr'],
  hmac: ['hmac-sha2-256-etm@openssh.com', 'hmac-sha2-512-etm@openssh.com'],
  compress: ['none'],
};

/** The software name in the identification string: `SSH-2.0-Airlock`, no version to fingerprint. */
export const GATEWAY_IDENT = 'Airlock';
