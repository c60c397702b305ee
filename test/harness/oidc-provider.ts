/**
 * A real OpenID Connect provider in the test process: panva's `oidc-provider` on a loopback port, with
 * its development login and consent pages (any login name signs in; the name is the subject), accounts
 * whose claims the test sets, and one confidential client for Airlock. The listener starts first so
 * that Airlock can be configured with the issuer URL; the provider is attached once Airlock's redirect
 * URI is known.
 *
 * For the misuse tests it can tamper with what its token endpoint returns, the way an attacker in the
 * middle or a confused provider would: the ID token is re-signed with the provider's own key after one
 * claim (`iss`, `aud`, `nonce`) has been changed, so that exactly one check in Airlock can catch it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import Provider from 'oidc-provider';

export interface TestAccount {
  /** The Airlock user name the provider asserts (preferred_username). */
  username?: string;
  groups?: string[];
  email?: string;
}

export type IdTokenTamper = (claims: Record<string, unknown>) => void;

export interface TestOidcProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Accounts by login name (the subject); unknown logins get preferred_username = login. */
  accounts: Map<string, TestAccount>;
  /** Attaches the provider with Airlock's redirect URI; call once before the first sign-in. */
  attach(redirectUri: string): void;
  /** Changes the next ID tokens (until cleared with null). */
  tamperIdToken(fn: IdTokenTamper | null): void;
  stop(): Promise<void>;
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

function resign(idToken: string, key: KeyObject, tamper: IdTokenTamper): string {
  const [header = '', payload = ''] = idToken.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  tamper(claims);
  const input = `${header}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${b64url(sign('sha256', Buffer.from(input), key))}`;
}

/** Starts the provider's listener on 127.0.0.1 (port 0). */
export async function startOidcProvider(): Promise<TestOidcProvider> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomBytes(8).toString('hex');
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
  const accounts = new Map<string, TestAccount>();
  const clientId = 'airlock';
  const clientSecret = randomBytes(24).toString('base64url');
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | null = null;
  let tamper: IdTokenTamper | null = null;

  const server: Server = createServer((req, res) => {
    if (handler === null) {
      res.statusCode = 503;
      res.end('provider not attached yet');
      return;
    }
    if (tamper !== null && req.method === 'POST' && req.url?.startsWith('/token')) {
      const change = tamper;
      const chunks: Buffer[] = [];
      const write = res.write.bind(res);
      const end = res.end.bind(res);
      res.write = ((chunk: unknown) => {
        if (chunk) chunks.push(Buffer.from(chunk as Buffer));
        return true;
      }) as typeof res.write;
      res.end = ((chunk?: unknown) => {
        if (chunk && typeof chunk !== 'function') chunks.push(Buffer.from(chunk as Buffer));
        let body = Buffer.concat(chunks).toString('utf8');
        try {
          const json = JSON.parse(body) as { id_token?: string };
          if (typeof json.id_token === 'string') json.id_token = resign(json.id_token, privateKey, change);
          body = JSON.stringify(json);
        } catch {
          // not JSON: pass through unchanged
        }
        res.setHeader('content-length', Buffer.byteLength(body));
        void write;
        return end(body);
      }) as typeof res.end;
    }
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    issuer,
    clientId,
    clientSecret,
    accounts,
    attach(redirectUri: string) {
      const provider = new Provider(issuer, {
        clients: [{
          client_id: clientId, client_secret: clientSecret, redirect_uris: [redirectUri],
          grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic',
        }],
        jwks: { keys: [jwk] },
        cookies: { keys: [randomBytes(32).toString('hex')] },
        claims: { openid: ['sub'], profile: ['preferred_username', 'name'], email: ['email'], groups: ['groups'] },
        scopes: ['openid', 'profile', 'email', 'groups', 'offline_access'],
        pkce: { required: () => true },
        features: { devInteractions: { enabled: true } },
        ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 600, Grant: 600 },
        findAccount(_ctx: unknown, sub: string) {
          const account = accounts.get(sub) ?? {};
          return {
            accountId: sub,
            claims: () => ({ sub, preferred_username: account.username ?? sub, groups: account.groups ?? [], ...(account.email ? { email: account.email } : {}) }),
          };
        },
      });
      // oidc-provider trusts X-Forwarded-* only when told; nothing here is proxied.
      handler = provider.callback();
    },
    tamperIdToken(fn) {
      tamper = fn;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
