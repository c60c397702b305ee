/**
 * Key fingerprints as ssh-keygen prints them: `SHA256:` and the unpadded base64 of the SHA-256 of the
 * plain key blob (OpenSSH 6.8+ default, sshkey_fingerprint with SSH_FP_BASE64).
 */
import { createHash, hash } from 'node:crypto';

/** The raw SHA-256 digest of a key blob (what KRLs and randomart use). */
export function sha256Digest(blob: Buffer): Buffer {
  return createHash('sha256').update(blob).digest();
}

/** `SHA256:<base64 without padding>` of a key blob, exactly like `ssh-keygen -l -E sha256`. */
export function fingerprintSha256(blob: Buffer): string {
  // One-shot hash (no Hash object); 32 bytes are 44 base64 characters, the last one padding.
  return `SHA256:${hash('sha256', blob, 'base64').slice(0, 43)}`;
}
