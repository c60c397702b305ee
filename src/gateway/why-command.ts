/**
 * `ssh GATEWAY why HOST PORT`: the reason a forward to HOST:PORT is refused, in one line on stderr.
 *
 * Why it exists: through a ControlMaster connection the OpenSSH mux client reports every refused
 * channel as "Stdio forwarding request failed: Session open refused by peer" — mux.c
 * (mux_stdio_confirm) drops the server's description. The ProxyCommand that `airlock config` writes
 * asks this command over the same master when `ssh -W` fails, so the person reads the gateway's own
 * reason. The decision comes from the very call a direct-tcpip channel makes (dialer.ts `dial`, the
 * forwarding policy): one rule, no copy. Pure parsing and wording here; the gateway runs the dial.
 */
import type { DialResult } from './dialer.ts';

/** A parsed `why HOST PORT`. */
export interface WhyCommand {
  host: string;
  port: number;
}

/** The longest host `why` accepts (a DNS name's limit). */
const MAX_HOST = 253;

/** `why HOST PORT` → the request; anything else (including a malformed `why`) → undefined. */
export function parseWhyCommand(command: string | undefined): WhyCommand | { error: string } | undefined {
  const words = (command ?? '').trim().split(/\s+/).filter(Boolean);
  if (words[0] !== 'why') return undefined;
  const usage = { error: 'Usage: why TARGET PORT (the reason a connection to TARGET on PORT is refused).\n' };
  if (words.length !== 3) return usage;
  const host = words[1]!;
  // The policy canonicalises and judges the host; here only its size and printable ASCII.
  if (host.length > MAX_HOST || !/^[\x21-\x7e]+$/.test(host)) return usage;
  // OpenSSH's ProxyJump writes `[%h]:%p`; the brackets are not part of the name.
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (!/^\d{1,5}$/.test(words[2]!)) return usage;
  const port = Number(words[2]);
  if (port < 1 || port > 65535 || bare === '') return usage;
  return { host: bare, port };
}

/** Exit status of `why`: reachable now, refused by the policy, or allowed but the target did not answer. */
export const WHY_STATUS = { reachable: 0, refused: 1, unreachable: 3 } as const;

/** The answer to `why`: exit status (WHY_STATUS) and stderr text. */
export function explainDial(result: DialResult, req: WhyCommand): { status: number; err: string } {
  if (result.ok) return { status: WHY_STATUS.reachable, err: `${result.target.name} port ${req.port} can be reached now; connect again.\n` };
  if (result.stage === 'policy') return { status: WHY_STATUS.refused, err: `Airlock gateway: ${result.decision.message}\n` };
  return { status: WHY_STATUS.unreachable, err: `Airlock gateway: ${result.message}\n` };
}
