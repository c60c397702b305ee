/**
 * `airlock hosts` lists the targets the signed-in user can reach, with the exact commands that reach
 * them; `airlock ssh TARGET [-- ssh arguments]` runs the system's ssh with the generated config (the
 * same as typing `ssh TARGET`, after making sure the config knows TARGET).
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Command } from 'commander';
import { AirlockError } from '../errors.ts';
import { requireSession } from './client-state.ts';
import { ensureSshConfigured } from './config-command.ts';
import { out, outJson, say, table } from './output.ts';
import { fetchTargets, preferredLocalPort, serviceUrl, type TargetInfo } from './platform-info.ts';
import { sshConfigArgs } from './system-ssh.ts';
import { fetchJobs, jobSshCommand, jobsTable } from './jobs-info.ts';
import { loginNameFor } from '../identity/user-names.ts';

/** The JSON form of `airlock hosts --json`: targets with the commands that reach them. */
export function hostsJson(targets: readonly TargetInfo[]): Record<string, unknown>[] {
  return [...targets].sort((a, b) => a.name.localeCompare(b.name)).map((t) => ({
    name: t.name,
    project: t.project,
    address: t.address,
    login_user: t.login_user,
    expires_at: t.expires_at,
    ssh_command: `ssh ${t.name}`,
    services: t.services.map((s) => ({
      name: s.name,
      port: s.port,
      path: s.path,
      tunnel_command: `airlock tunnel ${t.name} ${s.name}`,
      // The URL the tunnel prints when the local port is free (it picks another one otherwise).
      url: serviceUrl(preferredLocalPort(s.port), s),
    })),
  }));
}

/** The table of `airlock hosts`. */
export function hostsTable(targets: readonly TargetInfo[], user: string): string {
  const rows = [...targets].sort((a, b) => a.name.localeCompare(b.name)).map((t) => [
    t.name,
    t.project,
    t.login_user ?? loginNameFor(user),
    t.address,
    t.services.map((s) => `${s.name}:${s.port}`).join(',') || '-',
    t.expires_at?.replace(/\.\d+Z$/, 'Z') ?? '-',
  ]);
  return table(['NAME', 'PROJECT', 'LOGIN', 'ADDRESS', 'SERVICES', 'EXPIRES'], rows);
}

/** Runs `ssh [-F …] TARGET ARGS…` with the terminal, and resolves with its exit code. */
function runSsh(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('ssh', args, { stdio: 'inherit' });
    // Ctrl-C belongs to ssh (and the remote shell) while it runs, not to this process.
    const ignore = (): void => {};
    process.on('SIGINT', ignore);
    const done = (): void => {
      process.off('SIGINT', ignore);
    };
    child.on('error', (err) => {
      done();
      reject(new AirlockError('unavailable', `ssh could not be started (${err.message}); is OpenSSH installed?`));
    });
    child.on('exit', (code, signal) => {
      done();
      resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
  });
}

/** Registers `hosts` and `ssh`. */
export function registerHostsCommands(program: Command): void {
  program
    .command('hosts')
    .description('List the targets you can reach, with their services')
    .option('--json', 'print JSON (with the ssh and tunnel commands)')
    .addHelpText('after', '\nExamples:\n  airlock hosts\n  airlock hosts --json | jq -r \'.[].ssh_command\'')
    .action(async (opts: { json?: boolean }) => {
      const session = requireSession();
      const [targets, jobs] = await Promise.all([fetchTargets(session), fetchJobs(session)]);
      if (opts.json) {
        outJson([...hostsJson(targets), ...jobs.map((j) => ({ kind: 'job', name: j.name, project: j.project, port: j.port, expires_at: j.expiresAt, ssh_command: jobSshCommand(j, session.user) }))]);
        return;
      }
      // Jobs (each on its own gateway port) come first: they are short-lived and what the user just started.
      if (jobs.length > 0) out(jobsTable(jobs, session.user) + '\n');
      if (targets.length === 0) {
        if (jobs.length > 0) return;
        say('You have no targets yet: a target appears here when your project registers a VM, job or node.');
        return;
      }
      out(hostsTable(targets, session.user));
      const first = [...targets].sort((a, b) => a.name.localeCompare(b.name))[0]!;
      const svc = first.services[0];
      say(`\nConnect: ssh ${first.name}   (after airlock config)${svc ? `\nTunnel:  airlock tunnel ${first.name} ${svc.name}` : ''}`);
    });

  program
    .command('ssh')
    .description('Connect to a target with the system ssh and your generated config')
    .argument('<target>', 'the target, as airlock hosts lists it')
    .argument('[ssh-args...]', 'more ssh arguments or a remote command, after --')
    .addHelpText('after', `
The same as "ssh TARGET" once airlock config has run; this command first updates the config when
TARGET is not in it yet.

Examples:
  airlock ssh my-vm
  airlock ssh my-vm -- uptime
  airlock ssh my-vm -- -L 8080:localhost:8080 -v`)
    .action(async (target: string, sshArgs: string[]) => {
      const session = requireSession();
      const aliases = await ensureSshConfigured(session, target);
      if (!aliases.includes(target)) {
        throw new AirlockError('not_found', `${JSON.stringify(target)} is not one of your targets; airlock hosts lists them.`);
      }
      // OpenSSH reads options after the host name too, so "ssh TARGET -v uptime" works as typed.
      process.exitCode = await runSsh([...sshConfigArgs(), target, ...sshArgs]);
    });
}
