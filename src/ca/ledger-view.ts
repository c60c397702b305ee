/** The public JSON view of certificate ledger entries (API responses and `--json` output). */
import type { CertificateRecord } from '../store/repositories.ts';

/** JSON view of a ledger entry at time `now` (status valid, expired or revoked). */
export function certificateJson(r: CertificateRecord, now: number): Record<string, unknown> {
  return {
    serial: r.serial.toString(),
    type: r.certType,
    key_id: r.keyId,
    user: r.userName || null,
    principals: r.principals,
    fingerprint: r.fingerprint,
    valid_after: new Date(r.validAfter).toISOString(),
    valid_before: new Date(r.validBefore).toISOString(),
    issued_at: new Date(r.issuedAt).toISOString(),
    method: r.method,
    client_address: r.clientAddress,
    revoked_at: r.revokedAt === null ? null : new Date(r.revokedAt).toISOString(),
    status: r.revokedAt !== null ? 'revoked' : r.validBefore <= now ? 'expired' : 'valid',
  };
}

