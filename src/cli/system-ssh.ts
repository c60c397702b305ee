/**
 * The system's OpenSSH client as the researcher commands use it: which config file it reads, which
 * version it is, and what it makes of a host (`ssh -G`). Airlock never bundles an SSH client: the
 * generated config works with plain `ssh`, and these commands only call that same `ssh`.
 */
import { spawnSync } from 'node:child_process';
import { homedir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';

/** Certificates (CertificateFile, 7.2) and ProxyJump (7.3) need this version. */
export const MIN_OPENSSH = { major: 7, minor: 3 } as const;

/**
 * `-F ~/.ssh/config` when `$HOME` is not the passwd entry's home directory, else nothing. ssh finds its
 * user config through the passwd entry (ssh(1) FILES), so a CLI run with another HOME (a test, a
 * container, `sudo -E`) would otherwise use a different file than the one `airlock config` wrote.
 * `-F` also skips /etc/ssh/ssh_config, which is why it is not passed when it is not needed.
 */
export function sshConfigArgs(home: string = homedir()): string[] {
  let passwdHome: string | undefined;
  try {
    passwdHome = userInfo().homedir;
  } catch {
    passwdHome = undefined; // no passwd entry (some containers): ssh falls back to $HOME too
  }
  if (passwdHome !== undefined && resolve(passwdHome) === resolve(home)) return [];
  return ['-F', join(home, '.ssh', 'config')];
}

export interface SshVersion {
  product: string;
  major: number;
  minor: number;
  /** The whole `ssh -V` line. */
  text: string;
}

/** Parses `ssh -V` output (`OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15 …`, `OpenSSH_for_Windows_8.1p1, …`). */
export function parseSshVersion(output: string): SshVersion | null {
  const line = output.split('\n').find((l) => l.trim() !== '')?.trim() ?? '';
  const m = /^(OpenSSH)(?:_for_Windows)?_(\d+)\.(\d+)/.exec(line);
  if (m) return { product: m[1]!, major: Number(m[2]), minor: Number(m[3]), text: line };
  const other = /^([A-Za-z][\w-]*)[_ ]v?(\d+)\.(\d+)/.exec(line);
  return other ? { product: other[1]!, major: Number(other[2]), minor: Number(other[3]), text: line } : null;
}

/** Whether a version has certificates and ProxyJump. */
export function isRecentEnough(v: Pick<SshVersion, 'major' | 'minor'>): boolean {
  return v.major > MIN_OPENSSH.major || (v.major === MIN_OPENSSH.major && v.minor >= MIN_OPENSSH.minor);
}

/** Runs `ssh -V`; `missing` when there is no ssh on PATH. */
export function localSshVersion(): { kind: 'ok'; version: SshVersion } | { kind: 'missing' } | { kind: 'unknown'; output: string } {
  const r = spawnSync('ssh', ['-V'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) return { kind: 'missing' };
  const output = `${r.stderr ?? ''}${r.stdout ?? ''}`;
  const version = parseSshVersion(output);
  return version ? { kind: 'ok', version } : { kind: 'unknown', output: output.trim().slice(0, 200) };
}

/** Parses `ssh -G` output into lower-case option → values (options such as identityfile repeat). */
export function parseSshG(output: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const line of output.split('\n')) {
    const i = line.indexOf(' ');
    if (i <= 0) continue;
    const k = line.slice(0, i).toLowerCase();
    m.set(k, [...(m.get(k) ?? []), line.slice(i + 1)]);
  }
  return m;
}

/** What ssh would use for `host` (`ssh -G`), without connecting; null when ssh refuses the config. */
export function effectiveSshConfig(host: string, home: string = homedir()): { options: Map<string, string[]> } | { error: string } {
  const r = spawnSync('ssh', [...sshConfigArgs(home), '-G', host], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) return { error: r.error.message };
  if (r.status !== 0) return { error: (r.stderr || `ssh -G exited with ${r.status}`).trim().slice(0, 300) };
  return { options: parseSshG(r.stdout) };
}
