/**
 * The lobby: what `ssh USER@GATEWAY` prints without a target — who you are, when your certificate
 * expires, your targets with their services, and the exact commands that reach them (ProxyJump, `-L`
 * tunnels with the service URL and token). `hosts --json` gives the same as JSON. Pure rendering.
 *
 * A PuTTY or plink client (its SSH identification string, RFC 4253 §4.2, says `PuTTY_…`) also gets
 * the PuTTY settings and plink commands: plink 0.78 has no `-J`, so a jump is `-proxycmd "plink … -nc
 * %host:%port"`, and PuTTY's own is the "SSH to proxy" setting. Targets the client's address may not
 * reach (their allowed client CIDRs) are marked with the reason, by the same rule the gateway applies
 * to the forward itself (policy/forward.ts).
 */
import type { Target } from '../inventory/ports.ts';
import { formatDuration } from '../duration.ts';
import { loginNameFor } from '../identity/user-names.ts';
import { clientAddressProblem } from '../policy/forward.ts';

export interface LobbyView {
  userName: string;
  method: 'certificate' | 'publickey' | 'browser';
  serial: bigint | null;
  /** Epoch ms, certificate logins only. */
  validBefore: number | null;
  targets: readonly Target[];
  /** The public SSH address of the gateway. */
  gateway: { host: string; port: number };
  now: number;
  /** The client's canonical address: targets it may not reach are marked. */
  clientAddress?: string;
  /** The client program, from its identification string (lobbyClientOf). */
  client?: LobbyClient;
  /** Live jobs the user may enter, each on its own gateway port (PRODUCT.md "Per-job endpoints"). */
  jobs?: readonly LobbyJob[];
}

/** A job as the lobby shows it. */
export interface LobbyJob {
  name: string;
  projectName: string;
  port: number;
  services: readonly { name: string; port: number }[];
  expiresAt: number;
}

/** The ready commands of a job: `ssh -p PORT [-L …] user@gateway`, and plink's `-P PORT`. */
function jobCommands(v: LobbyView, j: LobbyJob): { ssh: string; plink: string } {
  const forwards = j.services.map((s) => ` -L ${localPortFor(s.port)}:localhost:${s.port}`).join('');
  return { ssh: `ssh -p ${j.port}${forwards} ${v.userName}@${hostPort(v.gateway.host)}`, plink: `plink -P ${j.port}${forwards} ${v.userName}@${v.gateway.host}` };
}

/** Which commands suit the client: PuTTY/plink also get PuTTY settings and plink commands. */
export type LobbyClient = 'putty' | 'other';

/** The client kind from the software part of its SSH identification string (`PuTTY_Release_0.78`). */
export function lobbyClientOf(software: string | undefined): LobbyClient {
  return software !== undefined && /^PuTTY[_-]/i.test(software) ? 'putty' : 'other';
}

/** What an exec command asks the lobby for. */
export type LobbyCommand = { kind: 'text' } | { kind: 'json' } | { kind: 'help' } | { kind: 'cert' } | { kind: 'unknown'; command: string };

/** Parses the command of `ssh USER@GATEWAY [COMMAND]`. */
export function parseLobbyCommand(command: string | undefined): LobbyCommand {
  const words = (command ?? '').trim().split(/\s+/).filter(Boolean);
  const [first, ...rest] = words;
  if (first === undefined) return { kind: 'text' };
  if (first === 'hosts' || first === 'targets') {
    if (rest.length === 0) return { kind: 'text' };
    if (rest.length === 1 && rest[0] === '--json') return { kind: 'json' };
  }
  if (first === '--json' && rest.length === 0) return { kind: 'json' };
  if (first === 'cert' && rest.length === 0) return { kind: 'cert' };
  if ((first === 'help' || first === '--help' || first === '-h') && rest.length === 0) return { kind: 'help' };
  return { kind: 'unknown', command: words.join(' ').slice(0, 200) };
}

function hostPort(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** `-J user@host[:port]`, the jump specification ssh(1) accepts. */
function jumpSpec(v: LobbyView): string {
  return `${v.userName}@${hostPort(v.gateway.host)}${v.gateway.port === 22 ? '' : `:${v.gateway.port}`}`;
}

/** `[-p PORT ]user@host` for a direct connection to the gateway. */
function gatewayArgs(v: LobbyView): string {
  return `${v.gateway.port === 22 ? '' : `-p ${v.gateway.port} `}${v.userName}@${v.gateway.host}`;
}

/** The local port suggested for a tunnel: the service's own unless it is privileged. */
export function localPortFor(port: number): number {
  return port >= 1024 ? port : port + 10000 > 65535 ? port : port + 10000;
}

function serviceUrl(localPort: number, path: string | null, token: string | null): string | null {
  if (path === null) return null;
  const p = path.startsWith('/') ? path : `/${path}`;
  const q = token === null ? '' : `${p.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
  return `http://127.0.0.1:${localPort}${p}${q}`;
}

/** plink's options for the gateway: `-P PORT user@host` (plink takes the port as -P). */
function plinkGatewayArgs(v: LobbyView): string {
  return `${v.gateway.port === 22 ? '' : `-P ${v.gateway.port} `}${v.userName}@${v.gateway.host}`;
}

interface TargetView {
  name: string;
  project: string;
  host: string;
  port: number;
  login: string;
  expiresAt: number | null;
  ssh: string;
  /** plink through the gateway (no -J in PuTTY 0.78: a -proxycmd running plink -nc). */
  plink: string;
  /** Why the client's address may not reach it (the gateway's own rule), or null. */
  unreachable: string | null;
  services: { name: string; port: number; localPort: number; tunnel: string; plinkTunnel: string; url: string | null }[];
}

function views(v: LobbyView): TargetView[] {
  return [...v.targets]
    .filter((t) => t.expiresAt === null || t.expiresAt > v.now)
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((t) => {
      const login = t.loginUser ?? loginNameFor(v.userName);
      const portOpt = t.port === 22 ? '' : `-p ${t.port} `;
      const problem = v.clientAddress === undefined ? undefined : clientAddressProblem(t, v.clientAddress);
      return {
        name: t.name,
        project: t.projectName,
        host: t.host,
        port: t.port,
        login,
        expiresAt: t.expiresAt,
        ssh: `ssh -J ${jumpSpec(v)} ${portOpt}${login}@${t.name}`,
        plink: `plink -proxycmd "plink -batch ${plinkGatewayArgs(v)} -nc %host:%port" -P ${t.port} ${login}@${t.name}`,
        unreachable: problem?.decision === 'deny' ? problem.message : null,
        services: t.services.map((s) => {
          const localPort = localPortFor(s.port);
          return {
            name: s.name, port: s.port, localPort,
            tunnel: `ssh -N -L ${localPort}:${t.name}:${s.port} ${gatewayArgs(v)}`,
            plinkTunnel: `plink -N -L 127.0.0.1:${localPort}:${t.name}:${s.port} ${plinkGatewayArgs(v)}`,
            url: serviceUrl(localPort, s.path, s.token),
          };
        }),
      };
    });
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

/** The lobby text (lines end in \n; the caller converts for a pty). */
export function renderLobbyText(v: LobbyView): string {
  const lines: string[] = [];
  let who = `Airlock gateway: signed in as ${v.userName}`;
  if (v.method === 'certificate' && v.validBefore !== null) {
    who += ` with certificate ${v.serial ?? '?'}, valid until ${iso(v.validBefore)} (${formatDuration(Math.max(0, v.validBefore - v.now))} left)`;
  } else if (v.method === 'publickey') {
    who += ' with a registered key';
  } else if (v.method === 'browser') {
    who += ' through a browser login';
  }
  lines.push(`${who}.`, '');
  const ts = views(v);
  const putty = v.client === 'putty';
  if (ts.length === 0) {
    lines.push('You have no targets yet: a target appears here when your project registers a VM, job or node.');
  } else {
    if (putty) {
      lines.push(
        'You are using PuTTY. Each target shows the PuTTY settings and a plink command (plink has no -J; it jumps',
        'with -proxycmd); the ssh lines are for OpenSSH. PuTTY and plink need your key and certificate: Connection >',
        'SSH > Auth > Credentials, or plink -i KEY.ppk -cert KEY-cert.pub before the user@host (or Pageant).',
        '"airlock putty" writes both files, saved sessions and these commands with your paths.',
        '',
      );
    }
    lines.push(`Your targets (${ts.length}):`);
    for (const t of ts) {
      lines.push('');
      const expiry = t.expiresAt === null ? '' : `, until ${iso(t.expiresAt)}`;
      lines.push(`${t.name}  (project ${t.project}, ${t.host} port ${t.port}, login ${t.login}${expiry})`);
      if (t.unreachable !== null) lines.push(`  NOT REACHABLE from here: ${t.unreachable} Connect from an address the target allows (your institution's network or VPN).`);
      lines.push(`  ${t.ssh}`);
      if (putty) {
        lines.push(
          `  PuTTY: Host Name ${t.name}, Port ${t.port}, Connection > Data: user ${t.login}; Connection > Proxy: "SSH to proxy`,
          `    and use port forwarding", Proxy hostname ${v.gateway.host}, Port ${v.gateway.port}, Username ${v.userName}.`,
          `  ${t.plink}`,
        );
      }
      for (const s of t.services) {
        lines.push(`  ${s.name} on port ${s.port}:`);
        lines.push(`    ${s.tunnel}`);
        if (putty) {
          lines.push(`    PuTTY (your gateway session): Connection > SSH > Tunnels: Source port ${s.localPort}, Destination ${t.name}:${s.port}, Add.`);
          lines.push(`    ${s.plinkTunnel}`);
        }
        if (s.url !== null) lines.push(`    then open ${s.url}`);
      }
    }
  }
  const jobs = (v.jobs ?? []).filter((j) => j.expiresAt > v.now);
  if (jobs.length > 0) {
    lines.push('', `Your jobs (${jobs.length}), each on its own port of this gateway:`);
    for (const j of jobs) {
      const c = jobCommands(v, j);
      lines.push('', `${j.name}  (project ${j.projectName}, until ${iso(j.expiresAt)})`, `  ${c.ssh}`);
      if (putty) lines.push(`  PuTTY: Host Name ${v.gateway.host}, Port ${j.port}; or ${c.plink}`);
    }
  }
  lines.push('', `"ssh ${gatewayArgs(v)} hosts --json" prints this as JSON.`);
  return lines.join('\n') + '\n';
}

/** The lobby as JSON (`hosts --json`). */
export function renderLobbyJson(v: LobbyView): string {
  return JSON.stringify({
    user: v.userName,
    method: v.method,
    certificate: v.method === 'certificate' ? { serial: v.serial?.toString() ?? null, valid_before: v.validBefore === null ? null : iso(v.validBefore) } : null,
    gateway: { host: v.gateway.host, port: v.gateway.port, jump: jumpSpec(v) },
    targets: views(v).map((t) => ({
      name: t.name,
      project: t.project,
      host: t.host,
      port: t.port,
      login: t.login,
      expires_at: t.expiresAt === null ? null : iso(t.expiresAt),
      ssh_command: t.ssh,
      plink_command: t.plink,
      reachable: t.unreachable === null,
      unreachable_reason: t.unreachable,
      services: t.services.map((s) => ({ name: s.name, port: s.port, local_port: s.localPort, tunnel_command: s.tunnel, plink_tunnel_command: s.plinkTunnel, url: s.url })),
    })),
    jobs: (v.jobs ?? []).filter((j) => j.expiresAt > v.now).map((j) => ({
      name: j.name, project: j.projectName, port: j.port, expires_at: iso(j.expiresAt), services: j.services.map((s) => ({ name: s.name, port: s.port })),
      ssh_command: jobCommands(v, j).ssh, plink_command: jobCommands(v, j).plink,
    })),
  }, null, 2) + '\n';
}

/** Help for the lobby's commands. */
export function renderLobbyHelp(v: LobbyView): string {
  return [
    'Commands at the Airlock gateway:',
    `  ssh ${gatewayArgs(v)}                  your targets and how to reach them`,
    `  ssh ${gatewayArgs(v)} hosts --json     the same, as JSON`,
    `  ssh -J ${jumpSpec(v)} LOGIN@TARGET     log in to a target`,
    `  ssh -N -L PORT:TARGET:PORT ${gatewayArgs(v)}   a tunnel to a service`,
    `  ssh ${gatewayArgs(v)} cert < ~/.ssh/id_ed25519.pub > ~/.ssh/id_ed25519-cert.pub`,
    '                                         a certificate for your key, after a browser login',
    '',
  ].join('\n');
}
