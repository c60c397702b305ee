/**
 * The gateway's host certificate: its Ed25519 host key certified by Airlock's host CA for the gateway's
 * public names, so that one `@cert-authority` line in known_hosts covers the gateway and every compute
 * node, with no trust-on-first-use prompt. The plain host key stays offered for clients without that
 * line. The certificate is kept next to the host key (`ssh_host_ed25519_key-cert.pub`, what sshd's
 * HostCertificate would read), reused across restarts while it is fresh, and renewed automatically
 * once two thirds of its lifetime have passed — the same margin for every replica, so replicas sharing
 * a data directory each keep a valid one.
 */
import { sign as cryptoSign } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Clock } from '../clock.ts';
import { AirlockError } from '../errors.ts';
import { writeFileAtomic } from '../files.ts';
import type { Logger } from '../log.ts';
import { formatCertificate, parseCertificate, principalProblem, verifyCertificate, type Certificate } from '../ssh/certificate.ts';
import type { PublicKey } from '../ssh/keys.ts';
import type { HostKey } from './host-key.ts';
import type { Ssh2HostKeyProvider } from './ssh2-extensions.ts';

/** Lifetime of the gateway's own certificate: short, since it is renewed without anyone's help. */
export const GATEWAY_HOST_CERT_TTL_MS = 7 * 86_400_000;
/** Renewal starts once this share of the lifetime has passed. */
const RENEW_AFTER = 2 / 3;
/** Checks at most this far apart (and retries a failed renewal this often). */
const MAX_CHECK_INTERVAL_MS = 3_600_000;

/** The part of Airlock's CA the gateway needs (CertificateAuthority implements it). */
export interface HostCertificateIssuer {
  readonly hostCaKey: PublicKey;
  issueHostCertificate(req: { publicKey: PublicKey; principals: string[]; ttlMs: number; actor: string | null }): Promise<{ certificate: Certificate }>;
}

export interface GatewayHostCertificateOptions {
  hostKey: HostKey;
  /** Names and addresses clients use for the gateway (AIRLOCK_SSH_HOST_NAMES). */
  principals: string[];
  ca: HostCertificateIssuer;
  clock: Clock;
  ttlMs?: number;
  /** Where the certificate is kept; default `<host key path>-cert.pub`. */
  path?: string;
  logger?: Logger;
  /** How often to check for renewal; default a twentieth of the lifetime, at most an hour. */
  checkIntervalMs?: number;
}

interface Resolved {
  hostKey: HostKey;
  principals: string[];
  ca: HostCertificateIssuer;
  clock: Clock;
  ttlMs: number;
  path: string;
  logger: Logger | undefined;
  checkIntervalMs: number;
}

/** The certificate path OpenSSH would use for a host key file. */
export function hostCertificatePath(hostKeyPath: string): string {
  return `${hostKeyPath}-cert.pub`;
}

/**
 * The gateway's host names when AIRLOCK_SSH_HOST_NAMES is unset: the public SSH host if configured,
 * else the listen host, else (listening on a wildcard address) this machine's name.
 */
export function defaultHostNames(listenHost: string, publicHost: string | undefined): string[] {
  if (publicHost !== undefined) return [publicHost];
  if (listenHost === '0.0.0.0' || listenHost === '::' || listenHost === '') return [hostname()];
  return [listenHost];
}

/** Parses a comma-separated list of host names and addresses; throws a config error naming a bad one. */
export function parseHostNames(text: string): string[] {
  const names = [...new Set(text.split(',').map((n) => n.trim()).filter(Boolean))];
  if (names.length === 0) throw new AirlockError('config', 'AIRLOCK_SSH_HOST_NAMES must list at least one host name or address.');
  for (const n of names) {
    const problem = principalProblem(n);
    if (problem !== undefined || !/^[A-Za-z0-9.:*-]{1,253}$/.test(n)) {
      throw new AirlockError('config', `Invalid host name "${n.slice(0, 64)}" in AIRLOCK_SSH_HOST_NAMES: use names like gw.example.org or addresses like 192.0.2.7.`);
    }
  }
  return names;
}

const sameSet = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');

/** The gateway's host certificate, kept valid; `ssh2HostKey` is what the ssh2 server offers. */
export class GatewayHostCertificate {
  readonly #o: Resolved;
  #cert: Certificate;
  #timer: NodeJS.Timeout | null = null;
  #renewing: Promise<boolean> | null = null;
  /** The object ssh2 signs key exchanges with; reads the current certificate at every handshake. */
  readonly ssh2HostKey: Ssh2HostKeyProvider;

  private constructor(o: Resolved, cert: Certificate) {
    this.#o = o;
    this.#cert = cert;
    const privateKey = o.hostKey.privateKey;
    this.ssh2HostKey = {
      type: 'ssh-ed25519-cert-v01@openssh.com',
      // PROTOCOL.certkeys: a certificate's signatures are made by its key, under the key's own name.
      signatureAlgo: 'ssh-ed25519',
      getPublicSSH: () => this.#cert.blob,
      sign: (data: Buffer): Buffer | Error => {
        try {
          return cryptoSign(null, data, privateKey);
        } catch (err) {
          return err as Error;
        }
      },
    };
  }

  /** Loads the stored certificate when it is still good, else issues one; then keeps it renewed. */
  static async start(opts: GatewayHostCertificateOptions): Promise<GatewayHostCertificate> {
    if (opts.hostKey.publicKey.type !== 'ssh-ed25519') throw new AirlockError('config', 'The gateway host certificate needs an Ed25519 host key.');
    if (opts.principals.length === 0) throw new AirlockError('config', 'The gateway host certificate needs at least one host name (AIRLOCK_SSH_HOST_NAMES).');
    const ttlMs = opts.ttlMs ?? GATEWAY_HOST_CERT_TTL_MS;
    const o: Resolved = {
      hostKey: opts.hostKey, principals: [...opts.principals], ca: opts.ca, clock: opts.clock, ttlMs,
      path: opts.path ?? hostCertificatePath(opts.hostKey.path), logger: opts.logger,
      checkIntervalMs: opts.checkIntervalMs ?? Math.max(1000, Math.min(MAX_CHECK_INTERVAL_MS, Math.floor(ttlMs / 20))),
    };
    const stored = GatewayHostCertificate.#load(o);
    const hc = new GatewayHostCertificate(o, stored ?? (await GatewayHostCertificate.#issue(o)));
    hc.#timer = setInterval(() => void hc.renewIfDue(), o.checkIntervalMs);
    hc.#timer.unref();
    return hc;
  }

  /** The certificate currently offered. */
  get certificate(): Certificate {
    return this.#cert;
  }

  /** When the current certificate is due for renewal (epoch ms). */
  get renewAt(): number {
    const after = Number(this.#cert.validAfter) * 1000;
    const before = Number(this.#cert.validBefore) * 1000;
    return after + Math.floor((before - after) * RENEW_AFTER);
  }

  /** Renews the certificate if it is due; returns whether it did. A failure is logged and retried later. */
  renewIfDue(): Promise<boolean> {
    if (this.#renewing) return this.#renewing;
    if (this.#o.clock.now() < this.renewAt) return Promise.resolve(false);
    this.#renewing = GatewayHostCertificate.#issue(this.#o)
      .then((cert) => {
        this.#cert = cert;
        return true;
      })
      .catch((err: unknown) => {
        const expired = this.#o.clock.now() >= Number(this.#cert.validBefore) * 1000;
        this.#o.logger?.error(expired ? 'gateway host certificate expired and could not be renewed' : 'gateway host certificate renewal failed; retrying', err, { component: 'gateway', valid_before: new Date(Number(this.#cert.validBefore) * 1000).toISOString() });
        return false;
      })
      .finally(() => {
        this.#renewing = null;
      });
    return this.#renewing;
  }

  /** Stops the renewal timer. */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  static #fresh(o: Resolved, cert: Certificate): boolean {
    const now = o.clock.now();
    try {
      verifyCertificate(cert, { trustedCaBlobs: [o.ca.hostCaKey.blob], now: BigInt(Math.floor(now / 1000)), type: 'host' });
    } catch {
      return false;
    }
    const after = Number(cert.validAfter) * 1000;
    const before = Number(cert.validBefore) * 1000;
    return cert.publicKey.blob.equals(o.hostKey.publicKey.blob) && sameSet(cert.principals, o.principals) && now < after + (before - after) * RENEW_AFTER;
  }

  static #load(o: Resolved): Certificate | undefined {
    if (!existsSync(o.path)) return undefined;
    try {
      const cert = parseCertificate(readFileSync(o.path, 'utf8'));
      return GatewayHostCertificate.#fresh(o, cert) ? cert : undefined;
    } catch {
      // A damaged or foreign file is simply replaced.
      return undefined;
    }
  }

  static async #issue(o: Resolved): Promise<Certificate> {
    const { certificate } = await o.ca.issueHostCertificate({ publicKey: o.hostKey.publicKey, principals: o.principals, ttlMs: o.ttlMs, actor: null });
    if (!certificate.publicKey.blob.equals(o.hostKey.publicKey.blob)) throw new AirlockError('internal', 'The CA certified a different key than the gateway host key.');
    try {
      writeFileAtomic(o.path, formatCertificate(certificate) + '\n', 0o644);
    } catch (err) {
      // The file only saves a renewal at the next start; the certificate in memory is what counts.
      o.logger?.warn('could not store the gateway host certificate', { component: 'gateway', path: o.path, error: (err as Error).message });
    }
    o.logger?.info('gateway host certificate issued', {
      component: 'gateway', serial: certificate.serial.toString(), principals: certificate.principals,
      valid_before: new Date(Number(certificate.validBefore) * 1000).toISOString(),
    });
    return certificate;
  }
}
