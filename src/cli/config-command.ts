/**
 * `airlock config`: writes the owned ssh config and known_hosts under `~/.ssh/airlock/` (0600 files in a
 * 0700 directory) from what the server says now — gateway endpoint and key, host CA, the user's
 * targets — and makes sure `~/.ssh/config` includes it, first, once. After that, plain `ssh my-vm`
 * works with no prompt. `airlock login` runs the same code at its end, so targets stay current.
 */
import { existsSync, lstatSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { AirlockError, isAirlockError } from '../errors.ts';
import { writeFileAtomic } from '../files.ts';
import { ensurePrivateDir, loadSession, requireSession, saveSession, type ClientSession } from './client-state.ts';
import { out, outJson, say } from './output.ts';
import { sessionAtServer } from './server-move.ts';
import { fetchCaKeys, fetchGatewayInfo, fetchTargets } from './platform-info.ts';
import { GATEWAY_ALIAS, generateSshConfig, hostAliases, sshConfigPaths, type GeneratedSshConfig, type SshConfigPaths } from './ssh-config.ts';
import { analyseInclude, ensureIncludeFirst, includeLine } from './ssh-include.ts';

export interface SshConfigResult {
  config_path: string;
  known_hosts_path: string;
  user_config_path: string;
  /** Whether `~/.ssh/config` was (or, with --dry-run, would be) changed to include the owned file. */
  include_changed: boolean;
  backup_path: string | null;
  hosts: string[];
  skipped: { name: string; reason: string }[];
  dry_run: boolean;
}

/** A file's text, or null when it does not exist. */
export function readIfExists(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Writes the user's ~/.ssh/config through a symlink (dotfile managers), keeping its mode. */
function writeUserConfig(path: string, text: string): void {
  const target = existsSync(path) && lstatSync(path).isSymbolicLink() ? realpathSync(path) : path;
  const mode = existsSync(target) ? statSync(target).mode & 0o777 : 0o600;
  writeFileAtomic(target, text, mode);
}

/** Fetches what the config needs, generates it and (unless `dryRun`) writes it. */
export async function writeSshConfig(session: ClientSession, opts: { dryRun?: boolean; home?: string } = {}): Promise<{ result: SshConfigResult; generated: GeneratedSshConfig; paths: SshConfigPaths; userConfigText: string }> {
  const home = opts.home ?? homedir();
  const paths = sshConfigPaths(home);
  const [gateway, ca, targets] = await Promise.all([fetchGatewayInfo(session.server), fetchCaKeys(session.server), fetchTargets(session)]);
  const generated = generateSshConfig({
    server: session.server,
    user: session.user,
    gateway: { host: gateway.host, port: gateway.port, hostKey: gateway.hostKey },
    hostCaKey: ca.hostCa,
    targets,
    identityFile: session.key_path,
    certificateFile: session.certificate_path,
    paths,
    windows: process.platform === 'win32',
  });
  const existing = readIfExists(paths.userConfig);
  const include = ensureIncludeFirst(existing, paths.config, home);
  const result: SshConfigResult = {
    config_path: paths.config,
    known_hosts_path: paths.knownHosts,
    user_config_path: paths.userConfig,
    include_changed: include.changed,
    backup_path: include.changed && existing !== null ? paths.userConfigBackup : null,
    hosts: generated.hosts,
    skipped: generated.skipped,
    dry_run: Boolean(opts.dryRun),
  };
  if (!opts.dryRun) {
    ensurePrivateDir(dirname(paths.userConfig));
    ensurePrivateDir(paths.dir);
    writeFileAtomic(paths.config, generated.config, 0o600);
    writeFileAtomic(paths.knownHosts, generated.knownHosts, 0o600);
    if (include.changed) {
      // Back up first: the user's file is theirs, and a bad edit must be undoable by a copy.
      if (existing !== null) writeFileAtomic(paths.userConfigBackup, existing, 0o600);
      writeUserConfig(paths.userConfig, include.text);
    }
  }
  return { result, generated, paths, userConfigText: include.text };
}

/** People-readable lines about a config run (stderr). */
export function describeSshConfig(r: SshConfigResult): string {
  const targets = r.hosts.filter((h) => h !== GATEWAY_ALIAS);
  const verb = r.dry_run ? 'Would write' : 'Wrote';
  const lines = [`${verb} ${r.config_path}: the gateway as "${GATEWAY_ALIAS}" and ${targets.length === 0 ? 'no targets yet' : `${targets.length} target(s): ${targets.join(', ')}`}.`];
  for (const s of r.skipped) lines.push(`Left out target ${JSON.stringify(s.name)}: ${s.reason}.`);
  if (r.include_changed) {
    lines.push(`${r.dry_run ? 'Would add' : 'Added'} "${includeLine(r.config_path)}" at the top of ${r.user_config_path}${r.backup_path ? ` (backup: ${r.backup_path})` : ''}.`);
  } else {
    lines.push(`${r.user_config_path} already includes it.`);
  }
  if (!r.dry_run && targets.length > 0) lines.push(`Connect with: ssh ${targets[0]}`);
  return lines.join('\n');
}

/**
 * Makes sure ssh knows Airlock's hosts before a command relies on them: (re)writes the config when the
 * owned file is missing, `~/.ssh/config` no longer includes it, or `needHost` is not in it yet (a
 * target added since the last run). Returns the Host aliases now defined.
 */
export async function ensureSshConfigured(session: ClientSession, needHost?: string): Promise<string[]> {
  const home = homedir();
  const paths = sshConfigPaths(home);
  const owned = readIfExists(paths.config);
  const aliases = owned === null ? [] : hostAliases(owned);
  const included = analyseInclude(readIfExists(paths.userConfig), paths.config, home).present;
  if (owned !== null && included && (needHost === undefined || aliases.includes(needHost))) return aliases;
  say('Updating your ssh config first (airlock config).');
  const { result } = await writeSshConfig(session, { home });
  say(describeSshConfig(result));
  return result.hosts;
}

/** What `airlock login` runs at its end: the config, or one sentence saying why not (login itself succeeded). */
export async function refreshSshConfigAfterLogin(): Promise<void> {
  const session = loadSession();
  if (!session) return;
  try {
    const { result } = await writeSshConfig(session);
    say(describeSshConfig(result));
  } catch (err) {
    say(`Your ssh config was not updated (${(err as Error).message}); run airlock config once that is fixed.`);
  }
}

/** Registers `config`. */
export function registerConfigCommand(program: Command): void {
  program
    .command('config')
    .description('Write your ssh config for the gateway and your targets, so that plain `ssh TARGET` works')
    .option('--dry-run', 'print what would be written, change nothing')
    .option('--server <url>', 'the Airlock server\'s new address, when it has moved (your sign-in is kept; checked against your certificate\'s CA first)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `
Writes ~/.ssh/airlock/config and ~/.ssh/airlock/known_hosts (mode 0600) and adds one line at the top of
~/.ssh/config (a backup is kept as ~/.ssh/config.airlock-backup):
  Include ~/.ssh/airlock/config   (written with the absolute path)
Every target gets a Host entry (ProxyJump through the gateway, your certificate, IdentitiesOnly,
a shared master connection). Running it again rewrites the files; airlock login runs it for you.

Examples:
  airlock config
  airlock config --dry-run
  airlock config --server https://airlock.new.example.org   # the server moved
  ssh my-vm                      # afterwards, for a target named my-vm`)
    .action(async (opts: { dryRun?: boolean; json?: boolean; server?: string }) => {
      const saved = requireSession();
      const session = opts.server === undefined ? saved : await sessionAtServer(saved, opts.server);
      let written: Awaited<ReturnType<typeof writeSshConfig>>;
      try {
        written = await writeSshConfig(session, { dryRun: Boolean(opts.dryRun) });
      } catch (err) {
        if (opts.server === undefined && isAirlockError(err, 'unavailable')) {
          throw new AirlockError('unavailable', `${err.message} If the Airlock server has moved, run airlock config --server NEW_URL.`, { cause: err });
        }
        throw err;
      }
      const { result, generated, paths, userConfigText } = written;
      if (session !== saved && !opts.dryRun) {
        saveSession(session);
        say(`Your sign-in now uses ${session.server} (was ${saved.server}).`);
      }
      if (opts.json) {
        outJson(opts.dryRun ? { ...result, config: generated.config, known_hosts: generated.knownHosts, user_config: userConfigText } : result);
      } else if (opts.dryRun) {
        out(`# ---- ${paths.config} ----\n${generated.config}`);
        out(`# ---- ${paths.knownHosts} ----\n${generated.knownHosts}`);
        out(result.include_changed ? `# ---- ${paths.userConfig} would become ----\n${userConfigText}` : `# ---- ${paths.userConfig}: unchanged ----`);
      }
      say(describeSshConfig(result));
    });
}
