/**
 * The certificate authority: issues user certificates under the issuance policy, host certificates
 * for compute nodes, records every certificate in the ledger, revokes, and publishes revocations as an
 * OpenSSH KRL. Knows nothing of HTTP or sockets; persistence comes through the store's ports.
 */
import type { Clock } from '../clock.ts';
import { AirlockError } from '../errors.ts';
import type { AuditInput, Auditor } from '../audit/auditor.ts';
import { SESSION_CERT_METHOD, type CertificateRecord, type Store, type User } from '../store/repositories.ts';
import { signCertificate, formatCertificate, principalProblem as principalProblemOf, type Certificate, type CertificateFields } from '../ssh/certificate.ts';
import type { KeyObject } from 'node:crypto';
import { formatPublicKey, assertAcceptableKey, type PublicKey } from '../ssh/keys.ts';
import { fingerprintSha256 } from '../ssh/fingerprint.ts';
import { buildKrl } from '../ssh/krl.ts';
import type { CaKeys } from './ca-keys.ts';
import { checkDailyQuota, planUserCertificate, principalsFor, DAY_MS, type IssuancePolicy } from './issuance-policy.ts';
import { KeyedMutex } from '../keyed-mutex.ts';
import { assertIssuedAsPlanned } from './post-sign-check.ts';
import { assertSignerWorks } from './signer-self-test.ts';
import { pooledRandomBytes } from '../ssh/random-pool.ts';
import { assertNoLoginNameConflict } from '../identity/user-names.ts';

/** Signs certificate fields with a CA private key (signCertificate; tests inject faulty ones). */
export type CertificateSigner = (fields: CertificateFields, caKey: KeyObject, comment?: string) => Certificate;

export interface IssuedCertificate {
  serial: bigint;
  certificate: Certificate;
  /** The certificate as one `-cert.pub` line. */
  line: string;
  record: CertificateRecord;
}

const HOST_PRINCIPAL = /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$|^[0-9a-fA-F:.]+$/;

/** How many quota-refused users the CA remembers (see #quotaRefused). */
const QUOTA_REFUSED_MAX = 10_000;

/** A random serial in [1, 2^53): unique by construction with overwhelming probability, checked by the ledger's key. */
function randomSerial(): bigint {
  const n = pooledRandomBytes(8).readBigUInt64BE() & ((1n << 53n) - 1n);
  return n === 0n ? 1n : n;
}

const toSeconds = (ms: number): bigint => BigInt(Math.floor(ms / 1000));

/** The longest a per-job session certificate lives: it only has to outlast the proxy's login to the job. */
export const SESSION_CERT_MAX_MS = 4 * 60 * 60 * 1000;

export class CertificateAuthority {
  readonly #keys: CaKeys;
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #audit: Auditor;
  readonly #policy: IssuancePolicy;
  readonly #issuer: string;
  readonly #onRevocation: ((krl: Buffer) => void) | undefined;
  readonly #sign: CertificateSigner;
  // Serialises issuance per user inside this process, so that concurrent requests queue here rather
  // than on the database; across replicas, insertWithinQuota's transaction keeps the quota exact.
  readonly #perUser = new KeyedMutex();
  /**
   * Users this process saw refused for the quota. Only their requests read the quota before signing:
   * for everyone else the one exact check is the one where the certificate is stored (insertWithinQuota),
   * which saves a query per issuance; the price is one wasted signature on a user's first refusal.
   */
  readonly #quotaRefused = new Set<string>();
  #krlCache: { version: number; bytes: Buffer } | undefined;

  constructor(deps: {
    keys: CaKeys;
    store: Store;
    clock: Clock;
    audit: Auditor;
    policy: IssuancePolicy;
    issuer: string;
    onRevocation?: (krl: Buffer) => void;
    /** The signer; signCertificate unless a test injects a faulty one to exercise the post-sign check. */
    sign?: CertificateSigner;
  }) {
    this.#keys = deps.keys;
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#audit = deps.audit;
    this.#policy = deps.policy;
    this.#issuer = deps.issuer;
    this.#onRevocation = deps.onRevocation;
    this.#sign = deps.sign ?? signCertificate;
    // Before the first certificate: the post-sign check relies on the signer being right.
    assertSignerWorks([deps.keys.user, deps.keys.host]);
  }

  /** The user CA's public key (what compute nodes put in TrustedUserCAKeys). */
  get userCaKey(): PublicKey {
    return this.#keys.user.publicKey;
  }

  /** The host CA's public key (what clients trust with an @cert-authority line). */
  get hostCaKey(): PublicKey {
    return this.#keys.host.publicKey;
  }

  /** The known_hosts line that makes clients trust every host certificate of this CA. */
  certAuthorityLine(hostPattern = '*'): string {
    return `@cert-authority ${hostPattern} ${formatPublicKey(this.#keys.host.publicKey, 'airlock-host-ca')}`;
  }

  /** Issues a user certificate for a client-generated public key, under policy and quota. */
  async issueUserCertificate(req: { user: User; publicKey: PublicKey; method: string; clientAddress: string | null }): Promise<IssuedCertificate> {
    return this.#perUser.run(req.user.id, async () => {
      const now = this.#clock.now();
      let plan;
      try {
        // Two users whose names map to one target account (bob@uni.example, bob_uni.example) would
        // both be let into it by sshd; whichever asks, neither gets a certificate until an operator fixes it.
        await assertNoLoginNameConflict(req.user.name, (n) => this.#store.users.byName(n), req.user.id);
        plan = planUserCertificate({
          user: req.user,
          publicKey: req.publicKey,
          caKeyBlobs: [this.#keys.user.publicKey.blob, this.#keys.host.publicKey.blob],
          issuedInLastDay: this.#quotaRefused.has(req.user.id) ? await this.#store.certificates.issuedSince(req.user.id, now - DAY_MS, this.#policy.dailyLimit) : [],
          now,
          policy: this.#policy,
          issuer: this.#issuer,
        });
      } catch (err) {
        this.#noteQuotaRefusal(req.user.id, err);
        await this.#auditDenied(req, err);
        throw err;
      }
      // The pre-check found room (or was skipped): the user is no longer known to be at the quota.
      this.#quotaRefused.delete(req.user.id);
      const serial = randomSerial();
      const fields: CertificateFields = {
        type: 'user',
        publicKey: req.publicKey,
        serial,
        keyId: plan.keyId,
        principals: plan.principals,
        validAfter: toSeconds(plan.validAfterMs),
        validBefore: toSeconds(plan.validBeforeMs),
        criticalOptions: plan.criticalOptions,
        extensions: plan.extensions,
      };
      let certificate: Certificate;
      try {
        certificate = this.#postSignCheck(this.#sign(fields, this.#keys.user.privateKey, `${req.user.name}@${this.#issuer}`), fields);
      } catch (err) {
        await this.#audit.record({
          type: 'cert.issue', outcome: 'failure', actor: req.user.name, clientAddress: req.clientAddress,
          details: { reason: 'post_sign_check', field: err instanceof AirlockError ? err.details?.field ?? null : null, serial: serial.toString(), method: req.method },
        });
        throw err;
      }
      const record: CertificateRecord = {
        serial,
        userId: req.user.id,
        userName: req.user.name,
        keyId: plan.keyId,
        certType: 'user',
        principals: plan.principals,
        publicKey: formatPublicKey(req.publicKey, ''),
        fingerprint: fingerprintSha256(req.publicKey.blob),
        validAfter: plan.validAfterMs,
        validBefore: plan.validBeforeMs,
        method: req.method,
        clientAddress: req.clientAddress,
        issuedAt: now,
        revokedAt: null,
        revokeReason: null,
      };
      const issued: AuditInput = {
        type: 'cert.issue', outcome: 'success', actor: req.user.name, clientAddress: req.clientAddress,
        details: { serial: serial.toString(), fingerprint: record.fingerprint, valid_before: new Date(plan.validBeforeMs).toISOString(), method: req.method },
      };
      try {
        // The quota is checked again where the certificate is stored, in one transaction holding the
        // user's row lock: the check above is this process's view, replicas may have issued since.
        // The cert.issue event is stored in that transaction too: no ledger row without its event.
        await this.#audit.recordWith(issued, (event) => this.#store.certificates.insertWithinQuota(record, {
          since: now - DAY_MS, limit: this.#policy.dailyLimit, check: (issuedAt) => checkDailyQuota(issuedAt, now, this.#policy.dailyLimit),
        }, event));
      } catch (err) {
        if (err instanceof AirlockError && err.code === 'quota_exceeded') {
          this.#noteQuotaRefusal(req.user.id, err);
          await this.#auditDenied(req, err);
        }
        throw err;
      }
      return { serial, certificate, line: formatCertificate(certificate), record };
    });
  }

  /** Remembers (boundedly) that a user was refused for the quota, so that their next request checks it before signing. */
  #noteQuotaRefusal(userId: string, err: unknown): void {
    if (!(err instanceof AirlockError && err.code === 'quota_exceeded')) return;
    if (this.#quotaRefused.size >= QUOTA_REFUSED_MAX) {
      // Forgetting a user only costs one signature on their next refused request; sets iterate oldest first.
      const oldest = this.#quotaRefused.values().next();
      if (!oldest.done) this.#quotaRefused.delete(oldest.value);
    }
    this.#quotaRefused.add(userId);
  }

  async #auditDenied(req: { user: User; publicKey: PublicKey; method: string; clientAddress: string | null }, err: unknown): Promise<void> {
    await this.#audit.record({
      type: 'cert.issue', outcome: 'denied', actor: req.user.name, clientAddress: req.clientAddress,
      details: { reason: err instanceof AirlockError ? err.code : 'internal', method: req.method, fingerprint: fingerprintSha256(req.publicKey.blob) },
    });
  }

  /** Issues a host certificate (for a compute node or VM) with the given host names as principals. */
  async issueHostCertificate(req: { publicKey: PublicKey; principals: string[]; ttlMs: number; actor: string | null }): Promise<IssuedCertificate> {
    assertAcceptableKey(req.publicKey);
    if (req.principals.length === 0) throw new AirlockError('bad_request', 'A host certificate needs at least one host name (--principals).');
    for (const p of req.principals) {
      if (!HOST_PRINCIPAL.test(p)) throw new AirlockError('bad_request', `"${p}" is not a host name or address.`);
    }
    const now = this.#clock.now();
    const serial = randomSerial();
    const validAfterMs = Math.floor(now / 1000) * 1000 - 60_000;
    const validBeforeMs = Math.floor((now + req.ttlMs) / 1000) * 1000;
    const fields: CertificateFields = {
      type: 'host', publicKey: req.publicKey, serial, keyId: `${this.#issuer}:host:${req.principals[0]!}`,
      principals: req.principals, validAfter: toSeconds(validAfterMs), validBefore: toSeconds(validBeforeMs),
      criticalOptions: {}, extensions: {},
    };
    const certificate = this.#postSignCheck(this.#sign(fields, this.#keys.host.privateKey, req.principals[0]), fields);
    const record: CertificateRecord = {
      serial, userId: '', userName: '', keyId: certificate.keyId, certType: 'host', principals: req.principals,
      publicKey: formatPublicKey(req.publicKey, ''), fingerprint: fingerprintSha256(req.publicKey.blob),
      validAfter: validAfterMs, validBefore: validBeforeMs, method: 'admin', clientAddress: null, issuedAt: now,
      revokedAt: null, revokeReason: null,
    };
    await this.#store.certificates.insert(record);
    await this.#audit.record({ type: 'cert.issue_host', outcome: 'success', actor: req.actor, clientAddress: null, details: { serial: serial.toString(), principals: req.principals } });
    return { serial, certificate, line: formatCertificate(certificate), record };
  }

  /**
   * Issues a session certificate for the per-job proxy: the gateway's own in-memory key, logging in as
   * the job's login user on behalf of `user`, valid until the job ends or SESSION_CERT_MAX_MS at most,
   * usable only from the gateway's address towards the job. It is in the user's ledger and revocable,
   * but does not count against the user's daily quota (the user did not ask for a certificate).
   */
  async issueSessionCertificate(req: {
    user: Pick<User, 'id' | 'name'>; job: { id: string; name: string }; loginUser: string; publicKey: PublicKey; jobExpiresAt: number | null;
    sourceAddress: string; extensions: Record<string, string>; clientAddress: string | null;
  }): Promise<IssuedCertificate> {
    const now = this.#clock.now();
    const principalProblem = principalProblemOf(req.loginUser);
    if (principalProblem !== undefined) throw new AirlockError('bad_request', `The job's login user "${req.loginUser}" ${principalProblem}.`);
    const validAfterMs = Math.floor(now / 1000) * 1000 - 60_000;
    const untilMs = Math.min(now + SESSION_CERT_MAX_MS, req.jobExpiresAt ?? Number.POSITIVE_INFINITY);
    if (untilMs <= now) throw new AirlockError('forbidden', 'The job has ended; ask for a new job.');
    const validBeforeMs = Math.ceil(untilMs / 1000) * 1000;
    const serial = randomSerial();
    const keyId = `${this.#issuer}:job-session:${req.user.name}:${req.job.name}`;
    const fields: CertificateFields = {
      type: 'user', publicKey: req.publicKey, serial, keyId, principals: [req.loginUser],
      validAfter: toSeconds(validAfterMs), validBefore: toSeconds(validBeforeMs),
      criticalOptions: { 'source-address': req.sourceAddress }, extensions: req.extensions,
    };
    const certificate = this.#postSignCheck(this.#sign(fields, this.#keys.user.privateKey, keyId), fields);
    const record: CertificateRecord = {
      serial, userId: req.user.id, userName: req.user.name, keyId, certType: 'user', principals: [req.loginUser],
      publicKey: formatPublicKey(req.publicKey, ''), fingerprint: fingerprintSha256(req.publicKey.blob),
      validAfter: validAfterMs, validBefore: validBeforeMs, method: SESSION_CERT_METHOD, clientAddress: req.clientAddress, issuedAt: now,
      revokedAt: null, revokeReason: null,
    };
    await this.#store.certificates.insert(record);
    await this.#audit.record({
      type: 'cert.issue', outcome: 'success', actor: req.user.name, clientAddress: req.clientAddress,
      details: { serial: serial.toString(), fingerprint: record.fingerprint, valid_before: new Date(validBeforeMs).toISOString(), method: SESSION_CERT_METHOD, job: req.job.id },
    });
    return { serial, certificate, line: formatCertificate(certificate), record };
  }

  /** Revokes one certificate. `owner` limits it to that user's certificates (self-service). */
  async revoke(serial: bigint, opts: { actor: string | null; owner?: User; reason?: string; clientAddress?: string | null }): Promise<CertificateRecord> {
    const rec = await this.#store.certificates.bySerial(serial);
    // A user asking about someone else's serial gets the same answer as for an unknown one.
    if (!rec || (opts.owner && rec.userId !== opts.owner.id)) {
      throw new AirlockError('not_found', `No certificate with serial ${serial} ${opts.owner ? 'belongs to you' : 'was issued here'}.`);
    }
    if (rec.revokedAt !== null) return rec;
    const now = this.#clock.now();
    // Revocation and KRL version change are one transaction in the store; false means another caller revoked it first.
    if (await this.#store.certificates.revoke(serial, now, opts.reason ?? 'revoked')) await this.#afterRevocation();
    await this.#audit.record({ type: 'cert.revoke', outcome: 'success', actor: opts.actor, clientAddress: opts.clientAddress ?? null, details: { serial: serial.toString(), owner: rec.userName } });
    return { ...rec, revokedAt: now, revokeReason: opts.reason ?? 'revoked' };
  }

  /** Revokes every certificate of a user; returns the serials revoked now. */
  async revokeAllOfUser(user: User, opts: { actor: string | null; reason?: string; clientAddress?: string | null }): Promise<bigint[]> {
    const serials = await this.#store.certificates.revokeAllOfUser(user.id, this.#clock.now(), opts.reason ?? 'revoked');
    if (serials.length > 0) await this.#afterRevocation();
    await this.#audit.record({ type: 'cert.revoke_all', outcome: 'success', actor: opts.actor, clientAddress: opts.clientAddress ?? null, details: { owner: user.name, count: serials.length } });
    return serials;
  }

  /** The current KRL: every revoked, unexpired certificate serial of both CAs. Rebuilt when the revocation version changes. */
  async krl(): Promise<Buffer> {
    const version = await this.#store.certificates.krlVersion();
    if (this.#krlCache?.version === version) return this.#krlCache.bytes;
    const now = this.#clock.now();
    const revoked = await this.#store.certificates.listAll();
    const user: bigint[] = [];
    const host: bigint[] = [];
    for (const c of revoked) {
      if (c.revokedAt === null || c.validBefore <= now) continue;
      (c.certType === 'host' ? host : user).push(c.serial);
    }
    const bytes = buildKrl({
      version: BigInt(version),
      generatedAt: toSeconds(now),
      comment: `${this.#issuer} revocations`,
      certificates: [
        { caKey: this.#keys.user.publicKey.blob, serials: user.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), keyIds: [] },
        { caKey: this.#keys.host.publicKey.blob, serials: host.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), keyIds: [] },
      ],
      revokedKeySha256: [],
    });
    this.#krlCache = { version, bytes };
    return bytes;
  }

  /** The KRL version: increases with every revocation, so that nodes can tell a fresh list from a stale one. */
  async krlVersion(): Promise<number> {
    return this.#store.certificates.krlVersion();
  }

  /** Publishes the KRL after a revocation (the store raised its version in the revocation's own transaction). */
  async #afterRevocation(): Promise<void> {
    const bytes = await this.krl();
    this.#onRevocation?.(bytes);
  }

  /**
   * Refuses to hand out a certificate that is not exactly what was planned (defence against signing
   * bugs; post-sign-check.ts compares every field). Returns the certificate as read back from its blob.
   */
  #postSignCheck(cert: Certificate, planned: CertificateFields): Certificate {
    const key = planned.type === 'user' ? this.#keys.user : this.#keys.host;
    return assertIssuedAsPlanned(cert, planned, key, toSeconds(this.#clock.now()));
  }

  /** Principals a user would get, for display. */
  principalsOf(user: User): string[] {
    return principalsFor(user);
  }
}
