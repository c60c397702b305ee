/**
 * Gateway authentication: Airlock user certificates, and — only when the operator enables it — public
 * keys from the key registry. ssh2 does not understand certificates, so everything is checked here:
 * the certificate against Airlock's user CA alone (type user, validity now, the SSH user name as a
 * principal, critical options including source-address against the client), the ledger (known serial,
 * not revoked), the owner (exists, not disabled, is the SSH user), and the signature over the session
 * with the certified key. A key offer without a signature only ever gets PK_OK, never a session
 * (checklist 6). Every failure is an answer, not an exception: anything unexpected denies (checklist 15).
 */
import type { Clock } from '../clock.ts';
import type { Auditor } from '../audit/auditor.ts';
import { isAirlockError } from '../errors.ts';
import type { KeyRegistryPort } from '../inventory/ports.ts';
import type { Store, User } from '../store/repositories.ts';
import { parseCertificateBlob, verifyCertificate, type Certificate } from '../ssh/certificate.ts';
import { fingerprintSha256 } from '../ssh/fingerprint.ts';
import { assertAcceptableKey, parsePublicKeyBlob, type PublicKey } from '../ssh/keys.ts';
import { parseSignatureBlob, verifySsh } from '../ssh/signature.ts';
import { verifyProcessedSignature } from './ssh2-signature.ts';
import { certificatePermitsPortForwarding, certificateRestrictionProblem, GATEWAY_CRITICAL_OPTIONS } from './certificate-restrictions.ts';

/** What ssh2's publickey auth context carries (see ssh2-signature.ts for the signature's form). */
export interface PublicKeyAttempt {
  username: string;
  /** Canonical client address. */
  clientAddress: string;
  /** `ctx.key.algo`: a certificate algorithm, or the plain key type (`ssh-rsa` for rsa-sha2-*). */
  keyAlgo: string;
  /** `ctx.key.data`: the certificate or public key blob. */
  keyData: Buffer;
  /** `ctx.hashAlgo`: sha256/sha512 for rsa-sha2-* plain keys. */
  hashAlgo: string | undefined;
  /** `ctx.signature`, absent for a key offer. */
  signature: Buffer | undefined;
  /** `ctx.blob`: the data the client signed (session ID and request). */
  signedData: Buffer | undefined;
}

/** Who is connected, and on what grounds; re-checked at every channel open. */
export interface GatewayIdentity {
  user: User;
  /** The first factor; 'browser' for a browser login alone (browser-login.ts). */
  method: 'certificate' | 'publickey' | 'browser';
  /** Certificate serial (certificate logins). */
  serial: bigint | null;
  keyId: string | null;
  /** SHA256 fingerprint of the (certified) key. */
  fingerprint: string;
  /** Epoch ms the certificate stops being valid; null for plain keys. */
  validBefore: number | null;
  /** Epoch ms of a browser approval on this connection (browser alone, or key then browser). */
  browserApprovedAt?: number | null;
  /** How the user had signed in to the web page that approved it (password+totp, oidc). */
  browserMethod?: string;
  /**
   * Certificate logins: whether the certificate has permit-port-forwarding. Absent for plain keys and
   * browser logins, which carry no such restriction; a certificate login without it is refused forwarding.
   */
  permitPortForwarding?: boolean;
  /** Epoch ms the connection's login stops being good for logins without `validBefore` (AIRLOCK_GATEWAY_MAX_SESSION). */
  sessionEndsAt?: number | null;
}

/** Stable reason codes of a refused login (audit `reason`). */
export type AuthDenyReason =
  | 'method_not_enabled'
  | 'unsupported_algorithm'
  | 'invalid_certificate'
  | 'unknown_serial'
  | 'revoked'
  | 'unknown_user'
  | 'user_disabled'
  | 'user_mismatch'
  | 'key_not_registered'
  | 'weak_key'
  | 'bad_signature'
  | 'certificate_expired'
  | 'force_command'
  | 'session_expired'
  | 'internal';

export type AuthOutcome =
  | { kind: 'pk_ok'; method: 'certificate' | 'publickey'; fingerprint: string }
  | { kind: 'accept'; identity: GatewayIdentity }
  | { kind: 'reject'; reason: AuthDenyReason; message: string; method: 'certificate' | 'publickey'; fingerprint?: string; serial?: bigint };

/** The result of re-checking an identity. */
export type Recheck = { ok: true; user: User } | { ok: false; reason: AuthDenyReason; message: string };

const CERT_SUFFIX = '-cert-v01@openssh.com';

/** Certificate algorithms on the wire → the blob's certificate type and the signature algorithm (RFC 8332, PROTOCOL.certkeys). */
const CERT_ALGORITHMS: Record<string, { certType: string; signature: string }> = {
  'ssh-ed25519-cert-v01@openssh.com': { certType: 'ssh-ed25519-cert-v01@openssh.com', signature: 'ssh-ed25519' },
  'ecdsa-sha2-nistp256-cert-v01@openssh.com': { certType: 'ecdsa-sha2-nistp256-cert-v01@openssh.com', signature: 'ecdsa-sha2-nistp256' },
  'ecdsa-sha2-nistp384-cert-v01@openssh.com': { certType: 'ecdsa-sha2-nistp384-cert-v01@openssh.com', signature: 'ecdsa-sha2-nistp384' },
  'ecdsa-sha2-nistp521-cert-v01@openssh.com': { certType: 'ecdsa-sha2-nistp521-cert-v01@openssh.com', signature: 'ecdsa-sha2-nistp521' },
  'rsa-sha2-256-cert-v01@openssh.com': { certType: 'ssh-rsa-cert-v01@openssh.com', signature: 'rsa-sha2-256' },
  'rsa-sha2-512-cert-v01@openssh.com': { certType: 'ssh-rsa-cert-v01@openssh.com', signature: 'rsa-sha2-512' },
};

/** Whether a key algorithm from the client names a certificate. */
export function isCertificateAlgorithm(algo: string): boolean {
  return algo.endsWith(CERT_SUFFIX);
}

function reject(method: 'certificate' | 'publickey', reason: AuthDenyReason, message: string, extra: { fingerprint?: string; serial?: bigint } = {}): AuthOutcome {
  return { kind: 'reject', reason, message, method, ...extra };
}

const toSeconds = (ms: number): bigint => BigInt(Math.floor(ms / 1000));

export interface GatewayAuthDeps {
  store: Store;
  clock: Clock;
  /** The user CA's public key: the only CA trusted here. */
  userCaKey: PublicKey;
  /** The key registry; required for 'publickey'. */
  keys?: KeyRegistryPort | undefined;
  methods: readonly ('certificate' | 'publickey')[];
}

/** Decides publickey attempts (certificates and registered keys) and re-checks identities. */
export class GatewayAuthenticator {
  readonly #deps: GatewayAuthDeps;

  constructor(deps: GatewayAuthDeps) {
    this.#deps = deps;
  }

  /** The SSH methods to advertise after a failure. */
  get advertisedMethods(): 'publickey'[] {
    return ['publickey'];
  }

  /** Decides one publickey attempt. Never throws: unexpected errors are rejections ('internal'). */
  async decide(a: PublicKeyAttempt): Promise<AuthOutcome> {
    const method = isCertificateAlgorithm(a.keyAlgo) ? 'certificate' : 'publickey';
    try {
      return method === 'certificate' ? await this.#certificate(a) : await this.#publicKey(a);
    } catch (err) {
      // Fail closed: a store outage or a bug denies, it never lets anyone in.
      return reject(method, 'internal', `internal error: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  async #certificate(a: PublicKeyAttempt): Promise<AuthOutcome> {
    const m = 'certificate';
    if (!this.#deps.methods.includes('certificate')) return reject(m, 'method_not_enabled', 'certificate login is not enabled');
    const algo = CERT_ALGORITHMS[a.keyAlgo];
    if (algo === undefined) {
      return reject(m, 'unsupported_algorithm', a.keyAlgo === 'ssh-rsa-cert-v01@openssh.com'
        ? 'ssh-rsa certificate signatures use SHA-1, which is not accepted; use rsa-sha2-256/512 or an ed25519 key'
        : `unsupported certificate algorithm ${JSON.stringify(a.keyAlgo.slice(0, 64))}`);
    }
    let cert: Certificate;
    try {
      cert = parseCertificateBlob(a.keyData);
    } catch (err) {
      return reject(m, 'invalid_certificate', isAirlockError(err) ? err.message : 'malformed certificate');
    }
    const fingerprint = fingerprintSha256(cert.publicKey.blob);
    const extra = { fingerprint, serial: cert.serial };
    if (cert.certType !== algo.certType) return reject(m, 'invalid_certificate', `the certificate is ${cert.certType} but was offered as ${a.keyAlgo}`, extra);
    const now = this.#deps.clock.now();
    try {
      verifyCertificate(cert, {
        trustedCaBlobs: [this.#deps.userCaKey.blob],
        now: toSeconds(now),
        type: 'user',
        principal: a.username,
        sourceAddress: a.clientAddress,
        knownCriticalOptions: GATEWAY_CRITICAL_OPTIONS,
      });
    } catch (err) {
      if (isAirlockError(err)) return reject(m, 'invalid_certificate', err.message, extra);
      throw err;
    }
    const restriction = certificateRestrictionProblem(cert);
    if (restriction !== undefined) return reject(m, 'force_command', restriction, extra);
    const record = await this.#deps.store.certificates.bySerial(cert.serial);
    // A certificate signed by our CA but absent from the ledger means a lost ledger or a stolen CA key:
    // either way, nobody can revoke it, so it is refused.
    if (record === undefined || record.certType !== 'user') return reject(m, 'unknown_serial', `serial ${cert.serial} is not in the certificate ledger`, extra);
    if (record.fingerprint !== fingerprint) return reject(m, 'unknown_serial', `serial ${cert.serial} belongs to another key in the ledger`, extra);
    const user = await this.#deps.store.users.byId(record.userId);
    if (user === undefined) return reject(m, 'unknown_user', `the owner of certificate ${cert.serial} no longer exists`, extra);
    if (user.disabled) return reject(m, 'user_disabled', `user ${user.name} is disabled`, extra);
    // The gateway account is the Airlock user: a certificate's extra principals (shared accounts on
    // nodes) do not let its holder act as another gateway user.
    if (user.name !== a.username) return reject(m, 'user_mismatch', `certificate ${cert.serial} belongs to ${user.name}, not ${a.username}`, extra);
    if (a.signature === undefined) return { kind: 'pk_ok', method: m, fingerprint };
    let sigAlg: string;
    try {
      sigAlg = parseSignatureBlob(a.signature).algorithm;
    } catch {
      return reject(m, 'bad_signature', 'malformed signature', extra);
    }
    if (sigAlg !== algo.signature) return reject(m, 'bad_signature', `signature algorithm ${JSON.stringify(sigAlg.slice(0, 64))} does not match ${a.keyAlgo}`, extra);
    if (a.signedData === undefined || !verifySsh(cert.publicKey, a.signedData, a.signature)) {
      return reject(m, 'bad_signature', 'the signature was not made with the certified key', extra);
    }
    // Revocation is judged after the signature, so that the reason (told to the client by the gateway's
    // banner) reaches only the key's holder; an offer without a signature gets PK_OK, never a login.
    if (record.revokedAt !== null) return reject(m, 'revoked', `certificate ${cert.serial} was revoked`, extra);
    return {
      kind: 'accept',
      identity: {
        user, method: m, serial: cert.serial, keyId: cert.keyId, fingerprint, validBefore: Math.min(record.validBefore, Number(cert.validBefore) * 1000),
        permitPortForwarding: certificatePermitsPortForwarding(cert),
      },
    };
  }

  async #publicKey(a: PublicKeyAttempt): Promise<AuthOutcome> {
    const m = 'publickey';
    if (!this.#deps.methods.includes('publickey') || this.#deps.keys === undefined) return reject(m, 'method_not_enabled', 'public key login is not enabled; use an Airlock certificate');
    let pk: PublicKey;
    try {
      pk = parsePublicKeyBlob(a.keyData);
    } catch (err) {
      return reject(m, 'unsupported_algorithm', isAirlockError(err) ? err.message : 'malformed public key');
    }
    const fingerprint = fingerprintSha256(pk.blob);
    if (pk.type !== a.keyAlgo) return reject(m, 'unsupported_algorithm', `the key is ${pk.type} but was offered as ${a.keyAlgo}`, { fingerprint });
    try {
      assertAcceptableKey(pk);
    } catch (err) {
      return reject(m, 'weak_key', isAirlockError(err) ? err.message : 'weak key', { fingerprint });
    }
    const user = await this.#deps.store.users.byName(a.username);
    if (user === undefined) return reject(m, 'unknown_user', 'no such user', { fingerprint });
    if (user.disabled) return reject(m, 'user_disabled', `user ${user.name} is disabled`, { fingerprint });
    const registered = await this.#deps.keys.findForUser(user.id, fingerprint);
    if (registered === undefined) return reject(m, 'key_not_registered', `key ${fingerprint} is not registered to ${user.name}`, { fingerprint });
    if (a.signature === undefined) return { kind: 'pk_ok', method: m, fingerprint };
    if (pk.type === 'ssh-rsa' && a.hashAlgo === undefined) return reject(m, 'unsupported_algorithm', 'ssh-rsa signatures use SHA-1, which is not accepted', { fingerprint });
    if (a.signedData === undefined || !verifyProcessedSignature(pk, a.hashAlgo, a.signature, a.signedData)) {
      return reject(m, 'bad_signature', 'the signature was not made with the offered key', { fingerprint });
    }
    return { kind: 'accept', identity: { user, method: m, serial: null, keyId: null, fingerprint, validBefore: null } };
  }

  /**
   * Re-checks a connected identity before a new channel: certificate still valid in time and not
   * revoked, user still present and enabled, registered key still registered. Never throws.
   */
  async recheck(id: GatewayIdentity): Promise<Recheck> {
    try {
      const now = this.#deps.clock.now();
      if (id.validBefore !== null && now >= id.validBefore) return { ok: false, reason: 'certificate_expired', message: 'Your certificate has expired; get a new one (airlock login) and reconnect.' };
      if (id.sessionEndsAt != null && now >= id.sessionEndsAt) return { ok: false, reason: 'session_expired', message: 'Your session has reached its maximum age; reconnect to log in again.' };
      if (id.serial !== null) {
        const record = await this.#deps.store.certificates.bySerial(id.serial);
        if (record === undefined || record.revokedAt !== null) return { ok: false, reason: 'revoked', message: 'Your certificate has been revoked.' };
      }
      const user = await this.#deps.store.users.byId(id.user.id);
      if (user === undefined) return { ok: false, reason: 'unknown_user', message: 'Your account no longer exists.' };
      if (user.disabled) return { ok: false, reason: 'user_disabled', message: 'Your account is disabled.' };
      if (id.method === 'publickey') {
        const key = this.#deps.keys === undefined ? undefined : await this.#deps.keys.findForUser(user.id, id.fingerprint);
        if (key === undefined) return { ok: false, reason: 'key_not_registered', message: 'Your key is no longer registered.' };
      }
      return { ok: true, user };
    } catch {
      return { ok: false, reason: 'internal', message: 'Authorisation could not be checked; try again later.' };
    }
  }
}

/**
 * Gives a login without a certificate's end (browser alone, registered key, key then browser) a
 * maximum age, as certificate logins have `validBefore`: otherwise such a connection never ends.
 */
export function limitSessionAge(id: GatewayIdentity, now: number, maxSessionMs: number): GatewayIdentity {
  return id.validBefore !== null ? { ...id, sessionEndsAt: null } : { ...id, sessionEndsAt: now + maxSessionMs };
}

/** When a connection's login stops being good by time alone (certificate end or maximum session age); null = never. */
export function loginDeadline(id: GatewayIdentity): number | null {
  return id.validBefore ?? id.sessionEndsAt ?? null;
}

/** The audit record of an authentication decision (PK_OK answers are not decisions and are not recorded). */
export async function auditAuth(audit: Auditor, outcome: AuthOutcome, ctx: { username: string; clientAddress: string }): Promise<void> {
  if (outcome.kind === 'pk_ok') return;
  const actor = ctx.username.slice(0, 256);
  if (outcome.kind === 'accept') {
    const id = outcome.identity;
    await audit.record({
      type: 'gateway.auth', outcome: 'success', actor: id.user.name, clientAddress: ctx.clientAddress,
      details: { method: id.method, fingerprint: id.fingerprint, ...(id.serial !== null ? { serial: id.serial.toString(), key_id: id.keyId } : {}) },
    });
    return;
  }
  await audit.record({
    type: 'gateway.auth', outcome: outcome.reason === 'internal' ? 'failure' : 'denied', actor, clientAddress: ctx.clientAddress,
    details: {
      method: outcome.method, reason: outcome.reason, message: outcome.message,
      ...(outcome.fingerprint ? { fingerprint: outcome.fingerprint } : {}),
      ...(outcome.serial !== undefined ? { serial: outcome.serial.toString() } : {}),
    },
  });
}
