/**
 * `airlock config --server URL`: points the saved sign-in at the address the Airlock server moved to,
 * without signing in again. The session holds a bearer token, so it is sent to the new address only
 * after that address has shown it is the same Airlock: its user CA must be the key that signed the
 * certificate this machine holds. A mistyped or hostile URL gets no token (it learns nothing but that
 * someone fetched the public CA keys).
 */
import { readFileSync } from 'node:fs';
import { AirlockError } from '../errors.ts';
import { parseCertificate } from '../ssh/certificate.ts';
import { parsePublicKey } from '../ssh/keys.ts';
import type { ClientSession } from './client-state.ts';
import { fetchCaKeys } from './platform-info.ts';

/** The server URL as `login --server` takes it: http(s), no trailing slash. */
export function normaliseServerUrl(url: string): string {
  if (!/^https?:\/\/[^/\s]/.test(url)) throw new AirlockError('bad_request', `--server must be an http(s) URL, not "${url.slice(0, 200)}".`);
  return url.replace(/\/+$/, '');
}

/**
 * The session with `server` as its address, once the server there has proved to be the one that signed
 * this machine's certificate; the session itself unchanged when the address is the same.
 */
export async function sessionAtServer(session: ClientSession, server: string): Promise<ClientSession> {
  const url = normaliseServerUrl(server);
  if (url === session.server) return session;
  const signIn = `sign in there instead: airlock login --server ${url} --user ${session.user}`;
  let signer: Buffer;
  try {
    signer = parseCertificate(readFileSync(session.certificate_path, 'utf8')).signatureKey.blob;
  } catch {
    throw new AirlockError('unauthenticated', `There is no readable certificate at ${session.certificate_path} to check ${url} against, so your sign-in was not sent there; ${signIn}.`);
  }
  const { userCa } = await fetchCaKeys(url);
  if (!parsePublicKey(userCa).blob.equals(signer)) {
    throw new AirlockError('unauthenticated', `${url} is not the Airlock server that signed your certificate (its user CA differs), so your sign-in was not sent there; check the URL, or ${signIn}.`);
  }
  return { ...session, server: url };
}
