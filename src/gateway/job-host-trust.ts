/**
 * How the per-job proxy knows it reached the job's own sshd (checklist item 12: no trust on first use).
 * A job is registered with either the host public key its orchestrator read from the job, or a host
 * certificate from Airlock's host CA. The certificate is checked here — signed by the host CA, a host
 * certificate, valid now, naming the job's name or address — and the key it certifies becomes the pin.
 * ssh2's client cannot verify a host certificate during key exchange (it checks the signature name
 * against the certificate algorithm and cannot parse certificate blobs), so the proxy asks the job for
 * its plain key and compares it with the certified one: the same trust, decided before connecting.
 */
import { parseCertificate, verifyCertificate } from '../ssh/certificate.ts';
import { fingerprintSha256 } from '../ssh/fingerprint.ts';
import type { PublicKey } from '../ssh/keys.ts';
import { AirlockError } from '../errors.ts';

/** What a job's registration says about its host key. */
export type JobHostTrust =
  | { kind: 'pinned'; publicKey: PublicKey }
  | { kind: 'host-certificate'; certificate: string };

/** The one host key the proxy accepts from a job. */
export interface HostKeyPin {
  type: string;
  blob: Buffer;
  fingerprint: string;
}

/**
 * Turns a job's host trust into the key to pin, verifying a host certificate against `hostCaBlob`
 * with one of `names` (the job's name or address) among its principals. Throws AirlockError
 * ('invalid_certificate') when the certificate does not hold.
 */
export function hostKeyPin(trust: JobHostTrust, opts: { hostCaBlob: Buffer; names: string[]; nowSeconds: bigint }): HostKeyPin {
  if (trust.kind === 'pinned') {
    return { type: trust.publicKey.type, blob: trust.publicKey.blob, fingerprint: fingerprintSha256(trust.publicKey.blob) };
  }
  const cert = parseCertificate(trust.certificate);
  let lastError: unknown;
  for (const principal of opts.names) {
    try {
      verifyCertificate(cert, { type: 'host', trustedCaBlobs: [opts.hostCaBlob], now: opts.nowSeconds, principal, ignoreSourceAddress: true });
      return { type: cert.publicKey.type, blob: cert.publicKey.blob, fingerprint: fingerprintSha256(cert.publicKey.blob) };
    } catch (err) {
      lastError = err;
    }
  }
  if (lastError instanceof AirlockError) throw lastError;
  throw new AirlockError('invalid_certificate', 'The job\'s host certificate names neither the job nor its address.');
}

/** Whether the key a job presented is the pinned one (constant work: the blobs are public). */
export function presentedKeyMatches(pin: HostKeyPin, presented: Buffer): boolean {
  return pin.blob.equals(presented);
}
