/**
 * A real OpenSSH sshd for tests: its own config, host key and loopback port, started in the foreground
 * (-D -e) and stopped by the test. The caller adds the lines under test (TrustedUserCAKeys, RevokedKeys…).
 */
import { mkdirSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import { run, startProcess, stopProcess, freePort, waitFor } from './processes.ts';

export const SSHD = ['/usr/sbin/sshd', '/usr/bin/sshd'].find((p) => existsSync(p));

export interface TestSshd {
  port: number;
  hostKeyPub: string;
  /** A known_hosts line for this sshd's plain host key. */
  knownHostsLine: string;
  logs(): string;
  stop(): Promise<void>;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/** Starts sshd in `dir` with the given extra sshd_config lines. */
export async function startSshd(dir: string, extraConfig: string[]): Promise<TestSshd> {
  if (!SSHD) throw new Error('sshd is not installed (apt-get install openssh-server)');
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // Debian's sshd insists on its privsep dir
  mkdirSync(dir, { recursive: true });
  const hostKey = join(dir, 'ssh_host_ed25519_key');
  if (!existsSync(hostKey)) {
    const r = await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
    if (r.code !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
  }
  const hostKeyPub = readFileSync(`${hostKey}.pub`, 'utf8').trim();
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const config = join(dir, 'sshd_config');
    writeFileSync(config, [
      `ListenAddress 127.0.0.1:${port}`,
      `HostKey ${hostKey}`,
      'PidFile none',
      'UsePAM no',
      'StrictModes no',
      'AuthorizedKeysFile none',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'LogLevel VERBOSE',
      // Debian's bash reads ~/.bashrc for commands run by sshd when SHLVL < 2. The test machine's
      // root .bashrc is not ours: on CI it runs `pyenv init`, which writes to stderr when its shims
      // directory is read-only, and that noise ended up in what tests compare. SHLVL=1 skips it.
      'SetEnv SHLVL=1',
      ...extraConfig,
      '',
    ].join('\n'));
    const check = await run(SSHD, ['-t', '-f', config]);
    if (check.code !== 0) throw new Error(`sshd -t refused the config: ${check.stderr}`);
    const proc = startProcess(SSHD, ['-D', '-e', '-f', config]);
    let exited = false;
    proc.child.once('exit', () => (exited = true));
    try {
      await waitFor('sshd to listen', async () => (exited ? false : (await canConnect(port)) ? true : undefined), 10_000);
    } catch {
      await stopProcess(proc.child);
      continue;
    }
    if (exited) continue; // lost the port race: try another
    const [type, b64] = hostKeyPub.split(' ');
    return {
      port,
      hostKeyPub,
      knownHostsLine: `[127.0.0.1]:${port} ${type} ${b64}`,
      logs: proc.output,
      stop: () => stopProcess(proc.child),
    };
  }
  throw new Error('could not start sshd on a free port after 5 attempts');
}
