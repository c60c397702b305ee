/**
 * The operators' certificate ledger (issue 12 item 10): every user's certificates, searched by user
 * name, serial or key fingerprint, and the state of the revocation list (its version and when it last
 * changed) that compute nodes fetch.
 */
import type { CertificateRecord, Store } from '../store/repositories.ts';

/** At most this many entries are shown at once (newest first). */
export const LEDGER_PAGE = 200;

/** What the search box may hold: a user name, a serial (decimal) or a SHA256 fingerprint (or a part of one). */
export function searchLedger(records: readonly CertificateRecord[], query: string): CertificateRecord[] {
  const q = query.trim();
  if (q === '') return records.slice(0, LEDGER_PAGE);
  const lower = q.toLowerCase();
  const out: CertificateRecord[] = [];
  for (const r of records) {
    // A serial matches exactly; a fingerprint by its full text or a prefix of at least 8 characters
    // after "SHA256:" (what people copy from ssh-keygen -l); a user by exact name.
    const fp = r.fingerprint;
    const hit = r.serial.toString() === q
      || r.userName.toLowerCase() === lower
      || fp === q
      || (q.length >= 8 && (fp.startsWith(q) || fp.slice('SHA256:'.length).startsWith(q)));
    if (hit) out.push(r);
    if (out.length >= LEDGER_PAGE) break;
  }
  return out;
}

/** The revocation list's state. */
export interface KrlStatus {
  version: number;
  /** When the latest revocation happened (epoch ms), or null when nothing was ever revoked. */
  lastChangedAt: number | null;
  /** Serials the KRL lists now (revoked, not yet expired). */
  listed: number;
}

/** The KRL's version, when it last changed and how many serials it lists. */
export async function krlStatus(store: Pick<Store, 'certificates'>, now: number): Promise<KrlStatus> {
  const [version, all, listed] = await Promise.all([store.certificates.krlVersion(), store.certificates.listAll(), store.certificates.revokedSerials(now)]);
  let last: number | null = null;
  for (const r of all) if (r.revokedAt !== null && (last === null || r.revokedAt > last)) last = r.revokedAt;
  return { version, lastChangedAt: last, listed: listed.length };
}
