/**
 * Reading what ssh prints on stderr, and saying it in plain words. The tunnel runs ssh with
 * `LogLevel=DEBUG2` because that is the only way ssh tells whether a forwarded connection was opened
 * (`channel N: open confirm`) or refused, and why (`channel N: open failed: REASON: MESSAGE`, with the
 * RFC 4254 §5.1 reason: "administratively prohibited" is the gateway's policy saying no, "connect
 * failed" is the gateway unable to reach the port — connection refused means nothing listens there).
 * The formats are OpenSSH's (channels.c, sshconnect.c); anything unrecognised passes through as is.
 */

export type OpenFailureReason = 'prohibited' | 'connect-failed' | 'unknown-type' | 'resource-shortage' | 'other';

export type SshEvent =
  | { kind: 'listening'; port: number }
  | { kind: 'open-confirm'; channel: number }
  | { kind: 'open-failed'; channel: number; reason: OpenFailureReason; message: string }
  | { kind: 'bind-failed'; line: string }
  | { kind: 'auth-denied'; line: string }
  | { kind: 'too-many-auth-failures'; line: string }
  | { kind: 'host-key-mismatch'; line: string }
  | { kind: 'host-key-unknown'; line: string }
  | { kind: 'connect-failed'; line: string; refused: boolean }
  | { kind: 'unknown-host'; name: string }
  | { kind: 'debug' }
  | { kind: 'other'; line: string };

const REASONS: Record<string, OpenFailureReason> = {
  'administratively prohibited': 'prohibited',
  'connect failed': 'connect-failed',
  'unknown channel type': 'unknown-type',
  'resource shortage': 'resource-shortage',
};

/** Classifies one line of ssh's stderr. */
export function classifySshLine(raw: string): SshEvent {
  const line = raw.replace(/\r$/, '');
  let m = /^debug\d: Local forwarding listening on \S+ port (\d+)\.?$/.exec(line);
  if (m) return { kind: 'listening', port: Number(m[1]) };
  m = /^debug\d: channel (\d+): open confirm\b/.exec(line);
  if (m) return { kind: 'open-confirm', channel: Number(m[1]) };
  if (/^debug\d: /.test(line)) return { kind: 'debug' };
  m = /^channel (\d+): open failed: (administratively prohibited|connect failed|unknown channel type|resource shortage|[^:]+)(?:: (.*))?$/.exec(line);
  if (m) return { kind: 'open-failed', channel: Number(m[1]), reason: REASONS[m[2]!] ?? 'other', message: (m[3] ?? '').trim() };
  if (/^bind \[?[^\]]*\]?:\d+: Address already in use$|cannot listen to port|Could not request local forwarding/.test(line)) return { kind: 'bind-failed', line };
  if (/Too many authentication failures/.test(line)) return { kind: 'too-many-auth-failures', line };
  if (/Permission denied \(/.test(line)) return { kind: 'auth-denied', line };
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed|Host key for \S+ has changed/.test(line)) return { kind: 'host-key-mismatch', line };
  if (/No \S+ host key is known for|authenticity of host .* can't be established/.test(line)) return { kind: 'host-key-unknown', line };
  m = /^ssh: Could not resolve hostname ([^:]+):/.exec(line);
  if (m) return { kind: 'unknown-host', name: m[1]! };
  m = /^ssh: connect to host \S+ port \d+: (.*)$/.exec(line);
  if (m) return { kind: 'connect-failed', line, refused: /refused/i.test(m[1]!) };
  return { kind: 'other', line };
}

/** What a tunnel was asked to reach, for the wording. */
export interface TunnelWhat {
  target: string;
  port: number;
  service: string | null;
  gatewayAlias: string;
}

/** The refusal of one forwarded connection, in plain words. */
export function explainOpenFailure(e: Extract<SshEvent, { kind: 'open-failed' }>, w: TunnelWhat): string {
  const where = `${w.target} port ${w.port}${w.service ? ` (${w.service})` : ''}`;
  const said = e.message ? ` The gateway said: "${e.message}"` : '';
  switch (e.reason) {
    case 'prohibited':
      return `Not allowed: the gateway does not let you reach ${where}. Only a target's SSH port and its registered services can be reached (airlock hosts lists them).${said}`;
    case 'connect-failed':
      if (/refused/i.test(e.message)) return `Connection refused: nothing is listening on ${where}. Start the service on ${w.target}, or check the port number.`;
      if (/timed out/i.test(e.message)) return `No answer from ${where} (timed out): is ${w.target} running, and is a firewall in the way?`;
      if (/resolve/i.test(e.message)) return `The gateway cannot find the address of ${w.target}; ask the operator of your project.${said}`;
      return `The gateway could not connect to ${where}.${said}`;
    case 'resource-shortage':
      return `The gateway refused a new connection for now (too many open at once); close some and try again.${said}`;
    default:
      return `The gateway refused the connection to ${where}.${said}`;
  }
}

/** A sentence for events that end an ssh connection; null when ssh's own line is clear enough. */
export function explainFatal(e: SshEvent, w: Pick<TunnelWhat, 'gatewayAlias'>): string | null {
  switch (e.kind) {
    case 'auth-denied':
      return 'The gateway refused your certificate (Permission denied): it has probably expired or been revoked. Run airlock login for a new one; airlock doctor checks the details.';
    case 'too-many-auth-failures':
      return 'Too many authentication failures: ssh offered too many keys before yours. Run airlock doctor; ssh-add -D empties the agent.';
    case 'host-key-mismatch':
      return 'The gateway\'s host key does not match the one in your known_hosts. Do not ignore this: run airlock doctor, which compares it with the key the Airlock server publishes.';
    case 'host-key-unknown':
      return 'ssh does not know this host key yet. Run airlock config to install the gateway\'s key and the host CA.';
    case 'connect-failed':
      return e.refused
        ? 'Cannot reach the gateway (connection refused): is the address right and the gateway running? airlock doctor checks.'
        : `Cannot reach the gateway: ${e.line.replace(/^ssh: /, '')}. Check your network or VPN; airlock doctor checks.`;
    case 'unknown-host':
      return e.name === w.gatewayAlias
        ? `ssh does not know the host ${w.gatewayAlias}: run airlock config (it adds Airlock's hosts to your ssh config).`
        : `ssh cannot resolve the host ${e.name}.`;
    case 'bind-failed':
      return 'The local port was taken just before ssh could use it.';
    default:
      return null;
  }
}
