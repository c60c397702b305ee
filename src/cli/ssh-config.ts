/**
 * The ssh configuration `airlock config` writes, as pure text: a `Host` alias for the gateway, one
 * `Host` per reachable target (ProxyJump through the gateway), and a known_hosts file holding the
 * gateway's key and the host CA as `@cert-authority`, so that no connection starts with a
 * trust-on-first-use prompt.
 *
 * Everything that comes from the server is checked again here before it lands in a file that ssh
 * obeys: a target name carrying a newline could otherwise add a `ProxyCommand` line (code execution
 * on the researcher's machine). Values that fail are skipped with a reason, never escaped.
 *
 * Paths are absolute because ssh expands `~` through the passwd entry's home directory, not `$HOME`
 * (ssh(1) FILES).
 */
import { join } from 'node:path';
import { AirlockError } from '../errors.ts';
import { parsePublicKey, formatPublicKey } from '../ssh/keys.ts';
import { isValidUserName, loginNameFor } from '../identity/user-names.ts';

/** The alias of the gateway in the generated config (`ssh airlock-gateway`, `ProxyJump airlock-gateway`). */
export const GATEWAY_ALIAS = 'airlock-gateway';
/** How long an idle master connection stays up after its last session (ssh_config ControlPersist). */
export const CONTROL_PERSIST = '10m';

// The inventory's own rules (src/inventory/target-validation.ts), repeated here because this side must
// not trust the server's validation.
const TARGET_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const LOGIN_USER = /^[a-z_][a-z0-9_.-]{0,31}$/;
const PROJECT_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV6 = /^[0-9A-Fa-f:.]{2,45}$/;

/** Where the generated files live; all absolute. */
export interface SshConfigPaths {
  /** `~/.ssh/airlock`, mode 0700. */
  dir: string;
  /** The owned config file that `~/.ssh/config` includes. */
  config: string;
  /** The owned known_hosts file (gateway key, host CA). */
  knownHosts: string;
  /** The user's own `~/.ssh/config`. */
  userConfig: string;
  /** The user's own `~/.ssh/known_hosts` (keys accepted for targets without a host certificate go there). */
  userKnownHosts: string;
  /** Backup of `~/.ssh/config` taken before the Include line is added. */
  userConfigBackup: string;
  /** ControlPath with `%C` (a hash of local host, remote host, port and user): one master per user and host, and short enough for a Unix socket path. */
  controlPath: string;
}

/** The standard locations under a home directory. */
export function sshConfigPaths(home: string): SshConfigPaths {
  const ssh = join(home, '.ssh');
  const dir = join(ssh, 'airlock');
  return {
    dir,
    config: join(dir, 'config'),
    knownHosts: join(dir, 'known_hosts'),
    userConfig: join(ssh, 'config'),
    userKnownHosts: join(ssh, 'known_hosts'),
    userConfigBackup: join(ssh, 'config.airlock-backup'),
    controlPath: join(dir, 'cm-%C'),
  };
}

/** A target as the generator needs it (the API's JSON view, narrowed). */
export interface ConfigTarget {
  name: string;
  port: number;
  login_user: string | null;
  project?: string | null;
}

export interface SshConfigInput {
  /** The Airlock server, for the header comment. */
  server: string;
  /** The Airlock user name: the gateway login; its login name (user-names.ts) is the default login on targets. */
  user: string;
  gateway: { host: string; port: number; hostKey: string };
  /** The host CA public key (`ssh-ed25519 AAAA… comment`); null leaves targets to the user's known_hosts. */
  hostCaKey: string | null;
  targets: readonly ConfigTarget[];
  identityFile: string;
  certificateFile: string;
  paths: SshConfigPaths;
  /** Windows OpenSSH has no ControlMaster and no sh: targets keep a plain ProxyJump there. */
  windows?: boolean;
}

export interface GeneratedSshConfig {
  config: string;
  knownHosts: string;
  /** The Host aliases written, gateway first. */
  hosts: string[];
  /** Targets left out, with the reason. */
  skipped: { name: string; reason: string }[];
}

/** Whether a host is a DNS name or an IP literal that can be written into ssh_config and known_hosts. */
export function isSafeHost(host: string): boolean {
  return HOST_NAME.test(host) || (host.includes(':') && IPV6.test(host)) || /^\d{1,3}(\.\d{1,3}){3}$/.test(host);
}

function isPort(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535;
}

/**
 * A file path as an ssh_config argument: whitespace is quoted; Windows backslashes become slashes
 * (Windows OpenSSH accepts them, while newer ssh reads a backslash as an escape). Quotes, backslashes,
 * `%` and control characters are refused: ssh's tokenizer and its `%` token expansion treat them
 * differently across versions and options (UserKnownHostsFile expands tokens only since OpenSSH 8.4),
 * and no home directory needs them.
 */
export function configPath(path: string, suffix = ''): string {
  const windows = /^[A-Za-z]:\\/.test(path);
  if (!path.startsWith('/') && !windows) throw new AirlockError('config', `The path ${JSON.stringify(path)} is not absolute.`);
  const p = windows ? path.replaceAll('\\', '/') : path;
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/["\\%\x00-\x1f\x7f]/.test(p)) {
    throw new AirlockError('config', `The path ${JSON.stringify(path)} contains a quote, backslash, % or control character, which ssh config files cannot hold reliably; use a home directory without them.`);
  }
  const full = p + suffix;
  return /\s/.test(full) ? `"${full}"` : full;
}

/** The known_hosts host field: `host` for port 22, `[host]:port` otherwise (sshd(8) SSH_KNOWN_HOSTS FILE FORMAT). */
export function knownHostsHost(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** The key type and base64 of an OpenSSH public key line, without its comment; throws on anything else. */
function keyWithoutComment(line: string, what: string): string {
  try {
    return formatPublicKey(parsePublicKey(line.trim()), '');
  } catch (cause) {
    throw new AirlockError('unavailable', `The server sent an unusable ${what} (${(cause as Error).message}).`, { cause });
  }
}

/** Why a target cannot go into the config, or undefined when it can. */
export function targetProblem(t: ConfigTarget): string | undefined {
  if (typeof t.name !== 'string' || !TARGET_NAME.test(t.name)) return 'its name is not a valid ssh Host alias';
  if (t.name === GATEWAY_ALIAS) return `its name is the gateway's alias ${GATEWAY_ALIAS}`;
  if (!isPort(t.port)) return 'its port is not a number from 1 to 65535';
  if (t.login_user !== null && (typeof t.login_user !== 'string' || !LOGIN_USER.test(t.login_user))) return 'its login account is not a valid account name';
  return undefined;
}

/**
 * The ProxyCommand of a target: `ssh -W` through the gateway alias (the same as ProxyJump); when it
 * fails while a master to the gateway is up, `why` asks the gateway over that master for the refusal's
 * reason and prints it. ssh runs ProxyCommand as `exec …`, hence `sh -c` for the `||`. `-F` names this
 * file so that the inner ssh finds the gateway alias whichever config the outer one was given.
 */
export function proxyCommand(config: string): string {
  const ssh = `ssh -F ${config}`;
  return `ProxyCommand sh -c '${ssh} -W "$1:$2" ${GATEWAY_ALIAS} || { ${ssh} -O check ${GATEWAY_ALIAS} 2>/dev/null && ${ssh} ${GATEWAY_ALIAS} why "$1" "$2" >&2; exit 255; }' airlock-proxy %h %p`;
}

/** A comment, the `Host` line, then its options indented. */
function block(comment: string, host: string, options: string[]): string {
  return [comment, host, ...options.map((o) => `    ${o}`)].join('\n');
}

/** Generates the owned config file and known_hosts file. Pure: same input, same text (golden-file tested). */
export function generateSshConfig(input: SshConfigInput): GeneratedSshConfig {
  const { gateway, paths } = input;
  if (!isSafeHost(gateway.host)) throw new AirlockError('unavailable', `The server gave an unusable gateway host ${JSON.stringify(gateway.host.slice(0, 64))}.`);
  if (!isPort(gateway.port)) throw new AirlockError('unavailable', 'The server gave an unusable gateway port.');
  if (!isValidUserName(input.user)) throw new AirlockError('config', `The user name ${JSON.stringify(input.user.slice(0, 64))} cannot be written into an ssh config.`);
  const gatewayKey = keyWithoutComment(gateway.hostKey, 'gateway host key');
  const hostCa = input.hostCaKey === null ? null : keyWithoutComment(input.hostCaKey, 'host CA key');

  const identity = configPath(input.identityFile);
  const certificate = configPath(input.certificateFile);
  const controlPath = configPath(paths.dir, '/cm-%C');
  const ownKnownHosts = configPath(paths.knownHosts);
  const userKnownHosts = configPath(paths.userKnownHosts);
  // Options every Airlock host shares. IdentitiesOnly stops ssh from offering every agent key first
  // ("Too many authentication failures"); ForwardAgent no because the gateway and targets never need it.
  const common = [
    `IdentityFile ${identity}`,
    `CertificateFile ${certificate}`,
    'IdentitiesOnly yes',
    'ControlMaster auto',
    `ControlPath ${controlPath}`,
    `ControlPersist ${CONTROL_PERSIST}`,
    'ForwardAgent no',
  ];

  // Targets have no master of their own (the gateway's master gives the one browser approval per
  // ControlPersist period): with ControlPersist on a target, ssh sends its proxy's stderr to /dev/null
  // (sshconnect.c ssh_proxy_connect) and every refusal would vanish. The proxy asks the gateway for
  // the reason when `ssh -W` fails over a live master, since the mux client drops it (why-command.ts).
  // A single quote in the path would end the `sh -c '…'` string: such a home gets the plain hop.
  const targetHop = input.windows === true || paths.config.includes("'")
    ? [`ProxyJump ${GATEWAY_ALIAS}`, ...common]
    : [proxyCommand(configPath(paths.config)), ...common.filter((o) => !o.startsWith('Control')), 'ControlMaster no', 'ControlPath none'];

  const sections: string[] = [];
  sections.push([
    `# Generated by \`airlock config\` for ${input.user} at ${input.server.replace(/[^\x21-\x7e]/g, '?')}.`,
    '# Do not edit: `airlock config` rewrites this file, and `airlock login` runs it.',
    '# Check the setup with `airlock doctor`.',
  ].join('\n'));
  sections.push(block('# The Airlock gateway (jump host); its key is in the known_hosts file next to this one.', `Host ${GATEWAY_ALIAS}`, [
    `HostName ${gateway.host}`,
    `Port ${gateway.port}`,
    `User ${input.user}`,
    ...common,
    `UserKnownHostsFile ${ownKnownHosts}`,
    'StrictHostKeyChecking yes',
  ]));

  const hosts = [GATEWAY_ALIAS];
  const skipped: { name: string; reason: string }[] = [];
  const targets = [...input.targets].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const seen = new Set<string>();
  const caPatterns: string[] = [];
  for (const t of targets) {
    const problem = targetProblem(t) ?? (seen.has(t.name) ? 'the name appears twice' : undefined);
    if (problem !== undefined) {
      skipped.push({ name: String(t.name).slice(0, 64), reason: problem });
      continue;
    }
    seen.add(t.name);
    const project = typeof t.project === 'string' && PROJECT_NAME.test(t.project) ? ` (project ${t.project})` : '';
    sections.push(block(`# ${t.name}${project}, reached through the gateway.`, `Host ${t.name}`, [
      `HostName ${t.name}`,
      `Port ${t.port}`,
      // An e-mail style Airlock name (bob@uni.example) logs in to targets as bob_uni.example (user-names.ts).
      `User ${t.login_user ?? loginNameFor(input.user)}`,
      ...targetHop,
      // The user's own file first: ssh adds keys it learns to the first file, and this one is rewritten.
      `UserKnownHostsFile ${userKnownHosts} ${ownKnownHosts}`,
    ]));
    hosts.push(t.name);
    caPatterns.push(knownHostsHost(t.name, t.port));
  }

  const known = [
    '# Generated by `airlock config`: the gateway\'s host key, and the Airlock host CA for its targets.',
    `${knownHostsHost(gateway.host, gateway.port)} ${gatewayKey}`,
  ];
  // The CA vouches only for the names of this user's targets, not for every host ssh connects to.
  if (hostCa !== null && caPatterns.length > 0) known.push(`@cert-authority ${caPatterns.join(',')} ${hostCa}`);

  return { config: sections.join('\n\n') + '\n', knownHosts: known.join('\n') + '\n', hosts, skipped };
}

/** The `Host` aliases defined in a generated config file (for `airlock ssh` and `doctor`). */
export function hostAliases(configText: string): string[] {
  const out: string[] = [];
  for (const line of configText.split('\n')) {
    const m = /^\s*Host\s+(\S+)\s*$/i.exec(line);
    if (m) out.push(m[1]!);
  }
  return out;
}

/** The options of each `Host` block of a generated config file: alias → lower-case option → value. */
export function hostBlocks(configText: string): Map<string, Map<string, string>> {
  const blocks = new Map<string, Map<string, string>>();
  let current: Map<string, string> | null = null;
  for (const line of configText.split('\n')) {
    const host = /^\s*Host\s+(\S+)\s*$/i.exec(line);
    if (host) {
      current = new Map();
      blocks.set(host[1]!, current);
      continue;
    }
    const opt = /^\s+([A-Za-z]+)\s+(.+?)\s*$/.exec(line);
    if (opt && current && !line.trim().startsWith('#')) current.set(opt[1]!.toLowerCase(), opt[2]!);
  }
  return blocks;
}
