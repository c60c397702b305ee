/**
 * `airlock login --browser`: a device-style login against Airlock (after RFC 8628). The CLI asks the
 * server for a login request for the user, prints the link and the short code, and polls with a secret
 * of its own (never shown in the browser) until the user has signed in and approved in any browser, on
 * any machine. The result is a session token, exactly what the password login gives.
 */
import { AirlockError } from '../errors.ts';
import { formatDuration } from '../duration.ts';
import { apiRequest } from './api-client.ts';

interface AuthorizeResponse { device_code: string; user_code: string; verification_uri_complete: string; expires_in: number; interval: number }
type TokenResponse =
  | { status: 'pending' | 'denied' | 'expired' }
  | { status: 'approved'; token: string; token_expires_at: string; user: { name: string } };

/** The session a browser login yields (the shape of POST /api/v1/login's answer). */
export interface BrowserSession { token: string; token_expires_at: string; user: { name: string } }

/** Runs the device-style login; `say` prints for people (stderr). Resolves once approved; throws when denied or expired. */
export async function browserLogin(server: string, user: string, say: (text: string) => void, options: { sleep?: (ms: number) => Promise<void> } = {}): Promise<BrowserSession> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const started = await apiRequest<AuthorizeResponse>({ server }, 'POST', '/api/v1/device/authorize', { user });
  say([
    `To sign in as ${user}, open this link in a browser (on any device), sign in and approve:`,
    '',
    `  ${started.verification_uri_complete}`,
    '',
    `The page must show the code ${started.user_code}. Waiting for your approval (the link works for ${formatDuration(started.expires_in * 1000)})…`,
  ].join('\n'));
  const intervalMs = Math.max(1, started.interval) * 1000;
  // Bounded by the link's lifetime, whatever the server says about each poll.
  const maxPolls = Math.ceil(started.expires_in / Math.max(1, started.interval)) + 5;
  for (let i = 0; i < maxPolls; i++) {
    await sleep(intervalMs);
    const res = await apiRequest<TokenResponse>({ server }, 'POST', '/api/v1/device/token', { device_code: started.device_code });
    if (res.status === 'approved') return { token: res.token, token_expires_at: res.token_expires_at, user: res.user };
    if (res.status === 'denied') throw new AirlockError('unauthenticated', 'The login was denied in the browser; run airlock login --browser again if that was a mistake.');
    if (res.status === 'expired') break;
  }
  throw new AirlockError('unauthenticated', 'The link expired before it was approved; run airlock login --browser again.');
}
