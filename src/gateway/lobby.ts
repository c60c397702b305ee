/**
 * The lobby: what `ssh USER@GATEWAY` prints without a target — who you are, when your certificate
 * expires, your targets with their services, and the exact commands that reach them (ProxyJump, `-L`
 * tunnels with the service URL and token). `hosts --json` gives the same as JSON. Pure rendering.
 */
import type { Target } from '../inventory/ports.ts';
import { formatDuration } from '../duration.ts';
import { loginNameFor } from '../identity/user-names.ts';

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

interface TargetView {
  name: string;
  project: string;
  host: string;
  port: number;
  login: string;
  expiresAt: number | null;
  ssh: string;
  services: { name: string; port: number; localPort: number; tunnel: string; url: string | null }[];
}

function views(v: LobbyView): TargetView[] {
  return [...v.targets]
    .filter((t) => t.expiresAt === null || t.expiresAt > v.now)
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((t) => {
      const login = t.loginUser ?? loginNameFor(v.userName);
      const portOpt = t.port === 22 ? '' : `-p ${t.port} `;
      return {
        name: t.name,
        project: t.projectName,
        host: t.host,
        port: t.port,
        login,
        expiresAt: t.expiresAt,
        ssh: `ssh -J ${jumpSpec(v)} ${portOpt}${login}@${t.name}`,
        services: t.services.map((s) => {
          const localPort = localPortFor(s.port);
          return { name: s.name, port: s.port, localPort, tunnel: `ssh -N -L ${localPort}:${t.name}:${s.port} ${gatewayArgs(v)}`, url: serviceUrl(localPort, s.path, s.token) };
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
  if (ts.length === 0) {
    lines.push('You have no targets yet: a target appears here when your project registers a VM, job or node.');
  } else {
    lines.push(`Your targets (${ts.length}):`);
    for (const t of ts) {
      lines.push('');
      const expiry = t.expiresAt === null ? '' : `, until ${iso(t.expiresAt)}`;
      lines.push(`${t.name}  (project ${t.project}, ${t.host} port ${t.port}, login ${t.login}${expiry})`);
      lines.push(`  ${t.ssh}`);
      for (const s of t.services) {
        lines.push(`  ${s.name} on port ${s.port}:`);
        lines.push(`    ${s.tunnel}`);
        if (s.url !== null) lines.push(`    then open ${s.url}`);
      }
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
      services: t.services.map((s) => ({ name: s.name, port: s.port, local_port: s.localPort, tunnel_command: s.tunnel, url: s.url })),
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
