/**
 * The words a revoked certificate's holder reads when the gateway refuses it. Without them OpenSSH
 * prints only "Permission denied (publickey)", which names no cause. The gateway sends this as a
 * userauth banner (RFC 4252 §5.4) only after the certificate's signature verified (auth.ts), so that
 * only the key's holder learns it — and a certificate's revocation is public in the KRL anyway.
 */

/** The banner text for a revoked certificate. */
export function revokedBanner(serial: bigint): string {
  return `Airlock: your certificate (serial ${serial}) has been revoked. Get a new one with "airlock login" (or on the web app) and connect again.\n`;
}
