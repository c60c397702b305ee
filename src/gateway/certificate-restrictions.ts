/**
 * What a user certificate's critical options and extensions mean on this gateway (OpenSSH
 * PROTOCOL.certkeys). The gateway is a jump host: it runs no commands, it only forwards and shows the
 * lobby. So:
 * - `force-command` cannot be honoured: sshd would run only that command, but a ProxyJump or `-L`
 *   through this gateway would reach targets without it. A certificate carrying it is refused at
 *   authentication rather than silently widened.
 * - `permit-port-forwarding` is required for every direct-tcpip channel, as sshd requires it for
 *   `-L`/`-W`/ProxyJump (auth-options.c: a certificate without it gets `no-port-forwarding`).
 * - `source-address` is checked by verifyCertificate; any other critical option (e.g. OpenSSH's
 *   `verify-required`) is unknown here and refused there, as PROTOCOL.certkeys demands.
 * Pure: no I/O.
 */
import type { Certificate } from '../ssh/certificate.ts';

/** The critical options this gateway understands; everything else makes verifyCertificate refuse. */
export const GATEWAY_CRITICAL_OPTIONS: readonly string[] = ['force-command', 'source-address'];

/** Why this gateway refuses an otherwise valid certificate, or undefined when it accepts it. */
export function certificateRestrictionProblem(cert: Pick<Certificate, 'criticalOptions'>): string | undefined {
  if (Object.hasOwn(cert.criticalOptions, 'force-command')) {
    return 'the certificate carries a force-command, which this gateway cannot honour (it only forwards, and a ProxyJump would bypass the forced command); ask for a certificate without force-command';
  }
  return undefined;
}

/** Whether the certificate allows port forwarding (direct-tcpip: -L, -W, ProxyJump). */
export function certificatePermitsPortForwarding(cert: Pick<Certificate, 'extensions'>): boolean {
  return Object.hasOwn(cert.extensions, 'permit-port-forwarding');
}

/** Why a direct-tcpip channel is refused for this login's certificate, or undefined when forwarding is permitted. */
export function forwardingRefusal(identity: { method: string; permitPortForwarding?: boolean }): string | undefined {
  // Fail closed: a certificate login whose flag is missing is treated as not permitted.
  if (identity.method === 'certificate' && identity.permitPortForwarding !== true) return NO_PORT_FORWARDING_MESSAGE;
  return undefined;
}

/** The refusal text for a direct-tcpip channel under a certificate without permit-port-forwarding. */
export const NO_PORT_FORWARDING_MESSAGE =
  'Your certificate does not permit port forwarding (no permit-port-forwarding extension), so ProxyJump and -L/-W are refused; get a standard certificate with airlock login.';
