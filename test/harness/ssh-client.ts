/** The stock OpenSSH client, run with no user config so that tests see only what they pass. */
import { run, type RunResult } from './processes.ts';

/** Runs `ssh` with `-F /dev/null`, batch mode, the given known_hosts file, and extra arguments. */
export function ssh(args: string[], opts: { knownHosts: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string }): Promise<RunResult> {
  return run('ssh', [
    '-F', '/dev/null',
    '-o', 'BatchMode=yes',
    '-o', `UserKnownHostsFile=${opts.knownHosts}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'ConnectTimeout=10',
    ...args,
  ], { env: { ...process.env, SSH_AUTH_SOCK: '', ...opts.env }, timeoutMs: opts.timeoutMs ?? 30_000, input: opts.input });
}
