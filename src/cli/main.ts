/**
 * The `airlock` command: `serve` runs the service, `admin …` are the operator's commands, everything
 * else is for researchers. Failures end with one sentence on stderr and an exit code per error kind.
 */
import { Command, CommanderError } from 'commander';
import { registerServeCommand } from './serve-command.ts';
import { registerAdminCommands } from './admin-commands.ts';
import { registerLoginCommands } from './login-command.ts';
import { registerStatusCommand } from './status-command.ts';
import { registerCertsCommands } from './certs-command.ts';
import { registerKeysCommands } from './keys-command.ts';
import { registerInventoryAdminCommands } from './inventory-commands.ts';
import { registerJobAdminCommands } from './job-commands.ts';
import { registerConfigCommand } from './config-command.ts';
import { registerHostsCommands } from './hosts-command.ts';
import { registerTunnelCommand } from './tunnel-command.ts';
import { registerDoctorCommand } from './doctor-command.ts';
import { registerPuttyCommand } from './putty-command.ts';
import { exitCodeFor, reportFailure } from './output.ts';

/** Builds the command tree (exported for tests of help text). */
export function buildProgram(): Command {
  const program = new Command();
  program
    .name('airlock')
    .description('SSH access for research computing: short-lived certificates, a ProxyJump gateway, tunnels.')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerServeCommand(program);
  registerLoginCommands(program);
  registerStatusCommand(program);
  registerCertsCommands(program);
  registerKeysCommands(program);
  registerConfigCommand(program);
  registerHostsCommands(program);
  registerTunnelCommand(program);
  registerDoctorCommand(program);
  registerPuttyCommand(program);
  const admin = registerAdminCommands(program);
  registerInventoryAdminCommands(admin);
  registerJobAdminCommands(admin);
  return program;
}

/** Runs the CLI with `argv` and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2; // commander already printed the message
    reportFailure(err);
    return exitCodeFor(err);
  }
}

const code = await main(process.argv);
// `serve` keeps running through its listeners; everything else exits with its code.
if (code !== 0 || process.argv[2] !== 'serve') process.exitCode = code;
