/** `airlock serve`: runs the service in the foreground until SIGINT/SIGTERM. */
import type { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { fingerprintSha256 } from '../ssh/fingerprint.ts';
import { cliCommand } from './invocation.ts';
import { say } from './output.ts';
import { formatDuration } from '../duration.ts';

/** Registers `serve`. */
export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('Run Airlock: SSH gateway, certificate authority and HTTP API (SQLite in the data directory unless AIRLOCK_DATABASE_URL is set)')
    .option('--data-dir <dir>', 'data directory (default: AIRLOCK_DATA_DIR or ./airlock-data)')
    .option('--config <file>', 'JSON config file (default: AIRLOCK_CONFIG)')
    .option('--http-listen <host:port>', 'HTTP listen address (default: AIRLOCK_HTTP_LISTEN or 127.0.0.1:8080; port 0 picks one)')
    .option('--ssh-listen <host:port>', 'SSH gateway listen address (default: AIRLOCK_SSH_LISTEN or 127.0.0.1:2222)')
    .addHelpText('after', `
Examples:
  airlock serve
  AIRLOCK_HTTP_LISTEN=0.0.0.0:8080 AIRLOCK_PUBLIC_URL=https://airlock.example.org airlock serve --data-dir /var/lib/airlock
  AIRLOCK_DATABASE_URL=postgres://airlock@db/airlock airlock serve

The chosen addresses are also written to DATA_DIR/endpoints.json.`)
    .action(async (opts: { dataDir?: string; config?: string; httpListen?: string; sshListen?: string }) => {
      const config = loadConfig({ flags: { data_dir: opts.dataDir, http_listen: opts.httpListen, ssh_listen: opts.sshListen }, configFile: opts.config });
      const { startServer } = await import('../server.ts');
      const server = await startServer(config);
      const users = await server.core.store.users.list();
      const publicUrl = config.publicUrl ?? server.httpUrl;
      say(`Airlock is running.`);
      say(`  HTTP API:   ${server.httpUrl}${config.publicUrl ? ` (public URL ${config.publicUrl})` : ''}`);
      const trust = server.gateway.trust();
      say(`  SSH gateway: ${server.sshEndpoint}${trust.endpoint !== server.sshEndpoint ? ` (public ${trust.endpoint})` : ''}, host key ${trust.fingerprint}`);
      if (config.gateway.allowLoopbackTargets) say('  WARNING: AIRLOCK_GATEWAY_ALLOW_LOOPBACK_TARGETS is on; targets may be loopback addresses. For tests and demos only.');
      const { ssh2NativeCryptoLoaded, SSH2_SETUP_COMMAND } = await import('../gateway/ssh2-extensions.ts');
      if (!ssh2NativeCryptoLoaded()) say(`  WARNING: ssh2's native crypto is not built for Node ${process.versions.node}; the gateway runs on JavaScript crypto at about twice the CPU. Run once: ${SSH2_SETUP_COMMAND}`);
      say(`  Data:       ${config.dataDir} (${server.core.store.dialect === 'postgres' ? 'PostgreSQL' : 'SQLite'})`);
      say(`  User CA:    ${fingerprintSha256(server.core.ca.userCaKey.blob)}`);
      say(`  Host CA:    ${fingerprintSha256(server.core.ca.hostCaKey.blob)}`);
      if (users.length === 0) {
        // The commands as this process was started: a checkout has no `airlock` on PATH (invocation.ts).
        const airlock = cliCommand();
        say(`
Next steps for a new installation:
  1. Create the first operator (prints a TOTP QR code and recovery codes):
       ${airlock} admin --data-dir ${config.dataDir} user add ADMIN_NAME --admin
  2. Researchers then sign in and get a certificate:
       ${airlock} login --server ${publicUrl} --user NAME
  3. Make compute nodes trust the CA:
       ${airlock} admin --data-dir ${config.dataDir} sshd-config --output-dir /etc/ssh/airlock`);
      }
      let draining: ReturnType<typeof server.drain> | null = null;
      const stop = (signal: string) => {
        if (draining !== null) {
          // Asked again: end the sessions now rather than at AIRLOCK_DRAIN_TIMEOUT.
          say(`Received ${signal} again; closing the remaining sessions now.`);
          draining.hurry();
          return;
        }
        say(`Received ${signal}; no new connections, not ready, open sessions may run for up to ${formatDuration(config.drainTimeoutMs)} (AIRLOCK_DRAIN_TIMEOUT).`);
        draining = server.drain();
        draining.done.then((r) => {
          say(`Stopped${r.ended > 0 ? ` (${r.ended} connection${r.ended === 1 ? '' : 's'} closed at the drain timeout)` : ''}.`);
          process.exit(0);
        }, (err: unknown) => {
          console.error(err);
          process.exit(1);
        });
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
    });
}
