/**
 * Whether the server has revoked a certificate, for `airlock status` and `airlock doctor` (issue 11:
 * after `airlock certs revoke --all` both said all was well). The answer comes from the server's
 * public KRL (`GET /api/v1/krl`), the same list the gateway and every node's sshd apply, so it needs
 * no sign-in and works after the session has ended. Offline, the answer is "unknown" with the reason,
 * never "not revoked".
 */
import { apiRequest } from './api-client.ts';
import type { Certificate } from '../ssh/certificate.ts';
import { isRevokedInKrl, parseKrl } from '../ssh/krl.ts';

export type RevocationState =
  | { state: 'revoked' }
  | { state: 'not_revoked' }
  | { state: 'unknown'; reason: string };

const KRL_TIMEOUT_MS = 10_000;

/** Asks `server` whether `cert` is revoked; never throws. */
export async function certificateRevocation(server: string, cert: Certificate): Promise<RevocationState> {
  let bytes: unknown;
  try {
    bytes = await apiRequest<unknown>({ server, timeoutMs: KRL_TIMEOUT_MS }, 'GET', '/api/v1/krl');
  } catch (err) {
    return { state: 'unknown', reason: (err as Error).message };
  }
  if (!Buffer.isBuffer(bytes)) return { state: 'unknown', reason: `the server at ${server} did not send a revocation list` };
  try {
    return isRevokedInKrl(parseKrl(bytes), { cert }) ? { state: 'revoked' } : { state: 'not_revoked' };
  } catch (err) {
    return { state: 'unknown', reason: `the revocation list from ${server} cannot be read (${(err as Error).message})` };
  }
}

/** The one-sentence fix for a revoked certificate. */
export const REVOKED_FIX = 'get a new certificate with airlock login';
