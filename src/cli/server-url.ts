/**
 * The server URL a sign-in goes to. A password, a one-time code and the session token that comes back
 * are credentials: over plain http anyone on the path reads them. Plain http is therefore accepted only
 * to this machine (loopback: local development, or a port forwarded over ssh), and elsewhere only when
 * the person says so with --insecure-http.
 */
import { AirlockError } from '../errors.ts';
import { canonicalHost, isLoopbackName } from '../policy/address.ts';

/** Whether a URL host (as `URL.hostname` gives it) is this machine. */
export function isLoopbackHost(hostname: string): boolean {
  const h = canonicalHost(hostname);
  if (h.kind === 'name') return isLoopbackName(h.name);
  if (h.kind !== 'ip') return false;
  // 127.0.0.0/8 and ::1 (RFC 1122 §3.2.1.3, RFC 4291 §2.5.3); IPv4-mapped forms are already IPv4 here.
  return h.ip.family === 4 ? h.ip.bytes[0] === 127 : h.text === '::1';
}

/** Checks a --server URL for a sign-in; returns it without trailing slashes. */
export function checkSignInServer(url: string, opts: { insecureHttp?: boolean } = {}): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new AirlockError('bad_request', `--server must be an http(s) URL, not "${url.slice(0, 100)}".`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new AirlockError('bad_request', `--server must be an http(s) URL, not "${url.slice(0, 100)}".`);
  if (parsed.protocol === 'http:' && !isLoopbackHost(parsed.hostname) && !opts.insecureHttp) {
    throw new AirlockError('bad_request', `Refusing to send your password and session over plain http to ${parsed.host}: use the server's https:// URL, or add --insecure-http if you really mean it.`);
  }
  return url.replace(/\/+$/, '');
}
