/**
 * `airlock admin …`: the operator's commands. They act directly on the data directory or database
 * (the same configuration as `airlock serve`), so they work whether or not the service is running.
 */
import { parseSerialText } from '../ca/serial-text.ts';
import { readFileSync, mkdirSync, chmodSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfig, type Config } from '../config.ts';
import { AirlockError } from '../errors.ts';
import { parseDuration } from '../duration.ts';
import type { Core } from '../server.ts';
import { writeFileAtomic } from '../files.ts';
import { parsePublicKey, formatPublicKey } from '../ssh/keys.ts';
import { fingerprintSha256 } from '../ssh/fingerprint.ts';
import { certificateJson } from '../ca/ledger-view.ts';
import { readFirstLineOfStdin, prompt } from './prompt.ts';
import { configuredGatewayEndpoint, gatewayTrust, gatewayTrustJson, gatewayTrustText, loadOrCreateHostKey } from '../gateway/host-key.ts';
import { out, outJson, say, table } from './output.ts';
import { certificatesTable, type CertificateJson } from './certs-command.ts';

interface GlobalAdminOpts { dataDir?: string; config?: string }

function adminConfig(cmd: Command): Config {
  const g = cmd.optsWithGlobals<GlobalAdminOpts>();
  return loadConfig({ flags: { data_dir: g.dataDir }, configFile: g.config });
}

/** Runs `fn` with the cores opened on the configured data directory/database, closing them afterwards. */
export async function withCore<T>(cmd: Command, fn: (core: Core) => Promise<T>): Promise<T> {
  // Admin commands log audit events to the database only; their stdout/stderr belong to the operator.
  // Loaded on demand: the store and its drivers are heavy, and most commands never need them.
  const { openCore } = await import('../server.ts');
  const core = await openCore(adminConfig(cmd), { log: null });
  try {
    return await fn(core);
  } finally {
    await core.close();
  }
}

async function userByName(core: Core, name: string) {
  const user = await core.store.users.byName(name);
  if (!user) throw new AirlockError('not_found', `No user named "${name}"; see airlock admin user list.`);
  return user;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

/** Registers `admin` and its subcommands; returns the `admin` command for other families to extend. */
export function registerAdminCommands(program: Command): Command {
  const admin = program
    .command('admin')
    .description('Operator commands, acting on the data directory or AIRLOCK_DATABASE_URL')
    .option('--data-dir <dir>', 'data directory (default: AIRLOCK_DATA_DIR or ./airlock-data)')
    .option('--config <file>', 'JSON config file (default: AIRLOCK_CONFIG)');

  const user = admin.command('user').description('Manage local users');
  user
    .command('add')
    .description('Create a local user with a password and TOTP enrolment; prints the enrolment once')
    .argument('<name>', 'user name (also the principal in their certificates)')
    .option('--email <email>', 'e-mail address')
    .option('--admin', 'make the user an operator')
    .option('--password-stdin', 'read the initial password from the first line of standard input')
    .option('--principal <p>', 'an extra certificate principal (repeatable), e.g. a shared account', collect, [])
    .option('--source-cidr <cidr>', 'restrict certificates to client addresses in this CIDR (repeatable)', collect, [])
    .option('--json', 'print {"name","totp_uri","recovery_codes"} as JSON')
    .addHelpText('after', `
Examples:
  airlock admin user add alice --email alice@example.org --password-stdin < pw.txt
  echo "$PASSWORD" | airlock admin user add ops --admin --password-stdin --json`)
    .action(async (name: string, opts: { email?: string; admin?: boolean; passwordStdin?: boolean; principal: string[]; sourceCidr: string[]; json?: boolean }, cmd: Command) => {
      const { checkUserName } = await import('../identity/local-login.ts');
      const { ADMIN_CLI } = await import('../identity/user-admin.ts');
      const { totpQrTerminal } = await import('../identity/totp.ts');
      checkUserName(name);
      const password = opts.passwordStdin ? await readFirstLineOfStdin('password') : await prompt(`Initial password for ${name}: `, { hidden: true, flag: '--password-stdin' });
      await withCore(cmd, async (core) => {
        const enrolment = await core.userAdmin.add({ name, email: opts.email ?? null, admin: Boolean(opts.admin), password, extraPrincipals: opts.principal, sourceCidrs: opts.sourceCidr }, ADMIN_CLI);
        if (opts.json) {
          outJson({ name, totp_uri: enrolment.totpUri, recovery_codes: enrolment.recoveryCodes });
          return;
        }
        say(`Created user ${name}${opts.admin ? ' (operator)' : ''}. Give them these, privately; they are shown only once.`);
        out(`TOTP: scan this QR code with an authenticator app, or enter the URI:\n${await totpQrTerminal(enrolment.totpUri)}\n${enrolment.totpUri}\n`);
        out(`Recovery codes (each works once, instead of a one-time code):\n${enrolment.recoveryCodes.map((c) => `  ${c}`).join('\n')}`);
      });
    });
  user
    .command('list')
    .description('List users')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withCore(cmd, async (core) => {
        const users = await core.store.users.list();
        const view = users.map((u) => ({ name: u.name, email: u.email, admin: u.isAdmin, disabled: u.disabled, totp: u.totpSecret !== null, principals: core.ca.principalsOf(u), source_cidrs: u.sourceCidrs, created_at: new Date(u.createdAt).toISOString() }));
        if (opts.json) outJson(view);
        else out(table(['NAME', 'EMAIL', 'ADMIN', 'DISABLED', 'PRINCIPALS'], view.map((u) => [u.name, u.email ?? '-', u.admin ? 'yes' : 'no', u.disabled ? 'yes' : 'no', u.principals.join(',')])));
      });
    });
  user
    .command('disable')
    .description('Disable a user: sign-in refused, sessions ended, every certificate revoked')
    .argument('<name>')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      await withCore(cmd, async (core) => {
        const { ADMIN_CLI } = await import('../identity/user-admin.ts');
        const serials = await core.userAdmin.disable(name, ADMIN_CLI);
        say(`Disabled ${name}; revoked ${serials.length} certificate(s).`);
      });
    });
  user
    .command('enable')
    .description('Enable a disabled user again')
    .argument('<name>')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      await withCore(cmd, async (core) => {
        const { ADMIN_CLI } = await import('../identity/user-admin.ts');
        await core.userAdmin.enable(name, ADMIN_CLI);
        say(`Enabled ${name}.`);
      });
    });

  user
    .command('reset-totp')
    .description('Give a user a new TOTP secret and recovery codes (a lost phone); prints them once')
    .argument('<name>')
    .option('--json', 'print {"name","totp_uri","recovery_codes"} as JSON')
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      const { ADMIN_CLI } = await import('../identity/user-admin.ts');
      const { totpQrTerminal } = await import('../identity/totp.ts');
      await withCore(cmd, async (core) => {
        const reset = await core.userAdmin.resetTotp(name, ADMIN_CLI);
        if (opts.json) {
          outJson({ name, totp_uri: reset.totpUri, recovery_codes: reset.recoveryCodes });
          return;
        }
        say(`Reset the one-time codes of ${name}; the old authenticator entry and recovery codes no longer work. Give them these, privately.`);
        out(`${await totpQrTerminal(reset.totpUri)}\n${reset.totpUri}\n\nRecovery codes:\n${reset.recoveryCodes.map((c) => `  ${c}`).join('\n')}`);
      });
    });
  user
    .command('admin')
    .description('Grant the admin (operator) role, or remove it with --remove')
    .argument('<name>')
    .option('--remove', 'remove the role instead of granting it')
    .action(async (name: string, opts: { remove?: boolean }, cmd: Command) => {
      const { ADMIN_CLI } = await import('../identity/user-admin.ts');
      await withCore(cmd, async (core) => {
        await core.userAdmin.setAdmin(name, !opts.remove, ADMIN_CLI);
        say(opts.remove ? `${name} is no longer an operator.` : `${name} is now an operator.`);
      });
    });

  const certs = admin.command('certs').description('The certificate ledger');
  certs
    .command('list')
    .description('List issued certificates, newest first')
    .option('--user <name>', 'only this user\'s')
    .option('--valid', 'only certificates that are valid now')
    .option('--json', 'print JSON')
    .action(async (opts: { user?: string; valid?: boolean; json?: boolean }, cmd: Command) => {
      await withCore(cmd, async (core) => {
        const now = core.clock.now();
        const records = opts.user ? await core.store.certificates.listByUser((await userByName(core, opts.user)).id) : await core.store.certificates.listAll();
        const list = records.map((r) => certificateJson(r, now)).filter((c) => !opts.valid || c.status === 'valid');
        if (opts.json) outJson(list);
        else out(list.length === 0 ? 'No certificates.' : certificatesTable(list as unknown as CertificateJson[], true));
      });
    });
  certs
    .command('revoke')
    .description('Revoke a certificate by serial, or all of a user\'s with --user')
    .argument('[serial]')
    .option('--user <name>', 'revoke every certificate of this user')
    .option('--dry-run', 'show what would be revoked, change nothing')
    .action(async (serial: string | undefined, opts: { user?: string; dryRun?: boolean }, cmd: Command) => {
      if (Boolean(serial) === Boolean(opts.user)) throw new AirlockError('bad_request', 'Give either a serial or --user NAME.');
      if (serial !== undefined && !/^\d{1,20}$/.test(serial)) throw new AirlockError('bad_request', `"${serial}" is not a serial number.`);
      await withCore(cmd, async (core) => {
        const now = core.clock.now();
        if (opts.user) {
          const u = await userByName(core, opts.user);
          if (opts.dryRun) {
            const list = (await core.store.certificates.listByUser(u.id)).filter((r) => r.revokedAt === null && r.validBefore > now);
            say(`Would revoke ${list.length} certificate(s) of ${u.name}; nothing changed (--dry-run).`);
            out(list.map((r) => r.serial.toString()).join('\n'));
            return;
          }
          const serials = await core.ca.revokeAllOfUser(u, { actor: 'admin-cli', reason: 'revoked by operator' });
          say(`Revoked ${serials.length} certificate(s) of ${u.name}.`);
          if (serials.length > 0) out(serials.join('\n'));
          return;
        }
        const s = parseSerialText(serial!);
        if (opts.dryRun) {
          const rec = await core.store.certificates.bySerial(s);
          if (!rec) throw new AirlockError('not_found', `No certificate with serial ${serial} was issued here.`);
          say(`Would revoke ${serial} of ${rec.userName || rec.principals.join(',')}; nothing changed (--dry-run).`);
          return;
        }
        await core.ca.revoke(s, { actor: 'admin-cli', reason: 'revoked by operator' });
        say(`Revoked certificate ${serial}.`);
      });
    });

  const conns = admin.command('connections').description('Live gateway connections on every replica');
  conns
    .command('list')
    .description('List live gateway connections (who, from where, since when, channels, bytes), newest first')
    .option('--user <name>', 'only this user\'s')
    .option('--json', 'print JSON')
    .action(async (opts: { user?: string; json?: boolean }, cmd: Command) => {
      await withCore(cmd, async (core) => {
        const list = await core.liveConnections.list(opts.user ? { user: opts.user } : {});
        const view = list.map((c) => ({
          id: c.id, user: c.userName, from: c.clientAddress, since: new Date(c.openedAt).toISOString(), method: c.method, serial: c.serial,
          sessions: c.sessions, channels: c.channels.map((ch) => ({ target: ch.target, host: ch.host, port: ch.port, since: new Date(ch.openedAt).toISOString() })),
          bytes_in: c.bytesIn, bytes_out: c.bytesOut, replica: c.replicaId, ending: c.endRequestedAt !== null,
        }));
        if (opts.json) outJson(view);
        else out(view.length === 0 ? 'No live connections.' : table(['ID', 'USER', 'FROM', 'SINCE', 'CHANNELS', 'BYTES IN/OUT'], view.map((c) => [c.id, c.user, c.from, c.since, c.channels.map((ch) => ch.target).join(',') || '-', `${c.bytes_in}/${c.bytes_out}`])));
      });
    });
  conns
    .command('end')
    .description('End a live gateway connection (the replica holding it disconnects it within a second)')
    .argument('<id>', 'the connection id from airlock admin connections list')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const { ADMIN_CLI } = await import('../identity/user-admin.ts');
      await withCore(cmd, async (core) => {
        const c = await core.liveConnections.end(id, ADMIN_CLI);
        say(`Asked the gateway to end ${c.userName}'s connection from ${c.clientAddress}; it ends within a second.`);
      });
    });

  admin
    .command('krl')
    .description('Write the current revocation list (OpenSSH KRL) for sshd RevokedKeys')
    .requiredOption('--output <file>', 'where to write it (replaced atomically)')
    .addHelpText('after', '\nExample:\n  airlock admin krl --output /etc/ssh/airlock_revoked.krl')
    .action(async (opts: { output: string }, cmd: Command) => {
      await withCore(cmd, async (core) => {
        writeFileAtomic(resolve(opts.output), await core.ca.krl(), 0o644);
        say(`Wrote the KRL (version ${await core.ca.krlVersion()}) to ${resolve(opts.output)}.`);
      });
    });

  admin
    .command('sshd-config')
    .description('Write the user CA key and KRL for a compute node and print the sshd_config lines it needs')
    .requiredOption('--output-dir <dir>', 'directory on the node for airlock_user_ca.pub, airlock_revoked.krl and principals/')
    .option('--account <account=principals>', 'let certificates with these principals (comma-separated) log in as a local account, e.g. ubuntu=alice,bob (repeatable)', collect, [])
    .addHelpText('after', `
Without --account, a certificate logs in only to the local account named like one of its principals
(the Airlock user name). Examples:
  airlock admin sshd-config --output-dir /etc/ssh/airlock
  airlock admin sshd-config --output-dir /etc/ssh/airlock --account ubuntu=alice,bob`)
    .action(async (opts: { outputDir: string; account: string[] }, cmd: Command) => {
      const dir = resolve(opts.outputDir);
      const accounts = opts.account.map((a) => {
        const m = /^([a-z_][a-z0-9_.-]{0,31})=([A-Za-z0-9_][A-Za-z0-9._@+-]*(?:,[A-Za-z0-9_][A-Za-z0-9._@+-]*)*)$/.exec(a);
        if (!m) throw new AirlockError('bad_request', `--account "${a}" must look like ubuntu=alice,bob.`);
        return { account: m[1]!, principals: m[2]!.split(',') };
      });
      await withCore(cmd, async (core) => {
        mkdirSync(dir, { recursive: true, mode: 0o755 });
        const caPath = join(dir, 'airlock_user_ca.pub');
        const krlPath = join(dir, 'airlock_revoked.krl');
        writeFileAtomic(caPath, formatPublicKey(core.ca.userCaKey, 'airlock-user-ca') + '\n', 0o644);
        writeFileAtomic(krlPath, await core.ca.krl(), 0o644);
        const lines = [`TrustedUserCAKeys ${caPath}`, `RevokedKeys ${krlPath}`];
        if (accounts.length > 0) {
          const pdir = join(dir, 'principals');
          mkdirSync(pdir, { recursive: true, mode: 0o755 });
          chmodSync(pdir, 0o755);
          for (const a of accounts) writeFileAtomic(join(pdir, a.account), a.principals.join('\n') + '\n', 0o644);
          lines.push(`AuthorizedPrincipalsFile ${pdir}/%u`);
        }
        out(lines.join('\n'));
        say(`Wrote ${caPath} and ${krlPath}. Keep the KRL fresh with a timer (see docs/operators/compute-nodes.md); sshd refuses every key login if it is missing.`);
      });
    });

  admin
    .command('host-cert')
    .description('Certify a host key (compute node, VM) so that clients trust it through the @cert-authority line')
    .option('--principals <names>', 'comma-separated host names and addresses the certificate is for')
    .option('--targets <names>', 'comma-separated registered targets served by this host: adds each name (what researchers type: ssh NAME) and its address')
    .option('--ttl <duration>', 'validity (default: AIRLOCK_HOST_CERT_TTL or 30d)')
    .argument('<key.pub>', 'the host public key, e.g. /etc/ssh/ssh_host_ed25519_key.pub')
    .addHelpText('after', `
ssh checks a host certificate against the name typed: the config that airlock config writes connects
to a target by its registered name, so the certificate must list every target name served by the host
(--targets does that), not only the host's own names. Examples:
  airlock admin host-cert --principals node01,node01.hpc.example.org --targets node01 /etc/ssh/ssh_host_ed25519_key.pub > /etc/ssh/ssh_host_ed25519_key-cert.pub
  airlock admin host-cert --targets j-1234567 /etc/ssh/ssh_host_ed25519_key.pub > /etc/ssh/ssh_host_ed25519_key-cert.pub`)
    .action(async (keyFile: string, opts: { principals?: string; targets?: string; ttl?: string }, cmd: Command) => {
      const list = (v: string | undefined): string[] => (v ?? '').split(',').map((p) => p.trim()).filter(Boolean);
      if (list(opts.principals).length === 0 && list(opts.targets).length === 0) {
        throw new AirlockError('bad_request', 'Name the host with --principals NAMES, --targets TARGETS or both (the names clients connect to).');
      }
      let text: string;
      try {
        text = readFileSync(keyFile, 'utf8');
      } catch (cause) {
        throw new AirlockError('bad_request', `Cannot read ${keyFile}: ${(cause as Error).message}`, { cause });
      }
      const publicKey = parsePublicKey(text.trim());
      await withCore(cmd, async (core) => {
        const ttlMs = opts.ttl ? parseDuration(opts.ttl, '--ttl') : core.config.hostCertTtlMs;
        const principals = list(opts.principals);
        for (const name of list(opts.targets)) {
          const target = await core.store.targets.byName(name);
          if (target === undefined) throw new AirlockError('not_found', `There is no target named ${name}; see airlock admin target list.`);
          principals.push(target.name, target.host);
        }
        const issued = await core.ca.issueHostCertificate({ publicKey, principals: [...new Set(principals)], ttlMs, actor: 'admin-cli' });
        out(issued.line);
        say(`Host certificate ${issued.serial} for ${issued.record.principals.join(', ')} (${fingerprintSha256(publicKey.blob)}), valid until ${new Date(issued.record.validBefore).toISOString()}. Add HostCertificate to sshd_config.`);
      });
    });

  admin
    .command('audit')
    .description('Show audit events')
    .option('--since <duration>', 'only the last DURATION, e.g. 1h or 7d', '24h')
    .option('--user <name>', 'only events of this user')
    .option('--type <type>', 'only events of this type or type prefix, e.g. gateway or gateway.channel')
    .option('--json', 'print JSON')
    .action(async (opts: { since: string; user?: string; type?: string; json?: boolean }, cmd: Command) => {
      const sinceMs = parseDuration(opts.since, '--since');
      await withCore(cmd, async (core) => {
        const all = await core.store.audit.list({ since: core.clock.now() - sinceMs, limit: 10_000, ...(opts.user ? { actor: opts.user } : {}) });
        const events = opts.type === undefined ? all : all.filter((e) => e.type === opts.type || e.type.startsWith(`${opts.type}.`));
        if (opts.json) outJson(events.map((e) => ({ ...e, at: new Date(e.at).toISOString() })));
        else out(table(['TIME', 'TYPE', 'OUTCOME', 'ACTOR', 'FROM', 'DETAILS'], events.map((e) => [new Date(e.at).toISOString(), e.type, e.outcome, e.actor ?? '-', e.clientAddress ?? '-', JSON.stringify(e.details)])));
      });
    });
  admin
    .command('gateway-info')
    .description('Show the SSH gateway\'s endpoint, host key fingerprint, randomart and known_hosts line')
    .option('--json', 'print {"ssh","host_key","fingerprint","randomart","known_hosts"} as JSON')
    .addHelpText('after', `
Publish the fingerprint and randomart in your user guide, or hand out the known_hosts line so that
clients never have to trust on first use. The endpoint is AIRLOCK_SSH_PUBLIC, else the running
service's address from endpoints.json, else AIRLOCK_SSH_LISTEN. Example:
  airlock admin gateway-info --json`)
    .action((opts: { json?: boolean }, cmd: Command) => {
      const config = adminConfig(cmd);
      const trust = gatewayTrust(loadOrCreateHostKey(config.dataDir).publicKey, configuredGatewayEndpoint(config));
      if (opts.json) outJson(gatewayTrustJson(trust));
      else out(gatewayTrustText(trust));
    });
  return admin;
}
