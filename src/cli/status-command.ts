/**
 * `airlock status`: what key and certificate this machine holds and whether they work right now —
 * the first FAQ answer of every platform ("permission denied" usually means an expired certificate,
 * or a revoked one: the server's revocation list is consulted, and when it cannot be, status says so).
 */
import { readFileSync, existsSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { formatDuration } from '../duration.ts';
import { parseCertificate, type Certificate } from '../ssh/certificate.ts';
import { parseOpenSshPrivateKey } from '../ssh/private-key.ts';
import { publicKeyFromKeyObject } from '../ssh/keys.ts';
import { createPublicKey } from 'node:crypto';
import { keyPaths, loadSession } from './client-state.ts';
import { out, outJson } from './output.ts';
import { certificateRevocation, REVOKED_FIX } from './revocation-status.ts';

export interface LocalStatus {
  user: string | null;
  server: string | null;
  key_path: string;
  certificate_path: string;
  serial: string | null;
  principals: string[];
  valid_after: string | null;
  valid_before: string | null;
  remaining_seconds: number | null;
  /** Whether the server's revocation list names the certificate; null when not checked. */
  revoked: boolean | null;
  /** Why revocation could not be checked (offline, not signed in); null when it was. */
  revocation_unchecked: string | null;
  problems: string[];
}

/** Inspects the local key and certificate at `now`, then asks the server whether the certificate is revoked. */
export async function checkedStatus(now: number, keyName?: string): Promise<LocalStatus> {
  const { st, cert } = inspect(now, keyName);
  if (cert === undefined) return st;
  if (st.server === null) {
    st.revocation_unchecked = 'not signed in, so there is no server to ask';
    return st;
  }
  if (Number(cert.validBefore) * 1000 <= now) {
    // The KRL lists only unexpired certificates; an expired one is refused anyway.
    st.revocation_unchecked = 'the certificate has expired';
    return st;
  }
  const r = await certificateRevocation(st.server, cert);
  if (r.state === 'unknown') {
    st.revocation_unchecked = r.reason;
  } else {
    st.revoked = r.state === 'revoked';
    if (st.revoked) st.problems.push(`the certificate ${cert.serial} has been revoked, so the gateway and the nodes refuse it: ${REVOKED_FIX}`);
  }
  return st;
}

/** Inspects the local key and certificate at `now` (no network). */
export function localStatus(now: number, keyName?: string): LocalStatus {
  return inspect(now, keyName).st;
}

function inspect(now: number, keyName?: string): { st: LocalStatus; cert: Certificate | undefined } {
  const session = loadSession();
  const paths = keyPaths(keyName);
  const keyPath = session?.key_path ?? paths.key;
  const certPath = session?.certificate_path ?? paths.cert;
  const st: LocalStatus = {
    user: session?.user ?? null, server: session?.server ?? null, key_path: keyPath, certificate_path: certPath,
    serial: null, principals: [], valid_after: null, valid_before: null, remaining_seconds: null, revoked: null, revocation_unchecked: null, problems: [],
  };
  if (!session) st.problems.push('not signed in: run airlock login --server URL --user NAME');
  if (!existsSync(keyPath)) st.problems.push(`no key at ${keyPath}: run airlock login`);
  else if ((statSync(keyPath).mode & 0o077) !== 0) st.problems.push(`the key ${keyPath} is readable by others; ssh will refuse it: chmod 600 ${keyPath}`);
  let cert: Certificate | undefined;
  if (!existsSync(certPath)) {
    st.problems.push(`no certificate at ${certPath}: run airlock login`);
  } else {
    try {
      cert = parseCertificate(readFileSync(certPath, 'utf8'));
    } catch (err) {
      st.problems.push(`the certificate ${certPath} cannot be read (${(err as Error).message}): run airlock login`);
    }
  }
  if (cert) {
    const after = Number(cert.validAfter) * 1000;
    const before = Number(cert.validBefore) * 1000;
    st.serial = cert.serial.toString();
    st.principals = cert.principals;
    st.valid_after = new Date(after).toISOString();
    st.valid_before = new Date(before).toISOString();
    st.remaining_seconds = Math.max(0, Math.floor((before - now) / 1000));
    if (before <= now) st.problems.push(`the certificate expired at ${st.valid_before}: run airlock login for a new one`);
    if (after > now) st.problems.push(`the certificate is not valid before ${st.valid_after}: check this machine's clock`);
    if (existsSync(keyPath)) {
      try {
        const pub = publicKeyFromKeyObject(createPublicKey(parseOpenSshPrivateKey(readFileSync(keyPath, 'utf8'))));
        if (!pub.blob.equals(cert.publicKey.blob)) st.problems.push(`the certificate does not belong to the key ${keyPath}: run airlock login`);
      } catch (err) {
        st.problems.push(`the key ${keyPath} cannot be read (${(err as Error).message})`);
      }
    }
  }
  return { st, cert };
}

/** Registers `status`. */
export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('Show your key and certificate and whether they are usable now')
    .option('--json', 'print the result as JSON')
    .option('--key-name <name>', 'key name used at login', 'airlock')
    .addHelpText('after', '\nExamples:\n  airlock status\n  airlock status --json | jq .valid_before\n\nRevocation is checked against the server revocation list; offline, status says that revocation could not be checked.')
    .action(async (opts: { json?: boolean; keyName: string }) => {
      const st = await checkedStatus(Date.now(), opts.keyName);
      if (opts.json) outJson(st);
      else {
        out(`User:         ${st.user ?? '-'}${st.server ? ` at ${st.server}` : ''}`);
        out(`Key:          ${st.key_path}`);
        out(`Certificate:  ${st.certificate_path}`);
        if (st.serial) {
          out(`Serial:       ${st.serial}`);
          out(`Principals:   ${st.principals.join(', ')}`);
          out(`Valid:        ${st.valid_after} to ${st.valid_before}${st.remaining_seconds ? ` (${formatDuration(st.remaining_seconds * 1000)} left)` : ''}`);
          out(`Revoked:      ${st.revoked === null ? `could not be checked (${st.revocation_unchecked ?? 'unknown reason'})` : st.revoked ? 'yes' : 'no'}`);
        }
        if (st.problems.length > 0) out(`Problems:\n${st.problems.map((p) => `  - ${p}`).join('\n')}`);
        else out(st.revoked === false ? 'Status:       OK' : 'Status:       OK here, but revocation could not be checked (see above); try again when the server is reachable');
      }
      if (st.problems.length > 0) process.exitCode = 1;
    });
}
