/**
 * `airlock admin project|target|token …`: the operator's inventory commands. Like the other admin
 * commands they act directly on the data directory or database, so they work with or without a
 * running server, and every change is audited with the actor `admin-cli`.
 */
import type { Command } from 'commander';
import { formatDuration, parseDuration } from '../duration.ts';
import { AirlockError } from '../errors.ts';
import { API_SCOPES, DEFAULT_API_TOKEN_TTL_MS, parseScopes } from '../inventory/api-scopes.ts';
import { projectJson, targetJson } from '../inventory/json-views.ts';
import type { Actor, Target } from '../inventory/ports.ts';
import { isProjectRole } from '../inventory/roles.ts';
import { formatServiceSpec, parseServiceSpec } from '../inventory/service-spec.ts';
import { formatAddress, parseAddress } from '../inventory/target-validation.ts';
import { withCore } from './admin-commands.ts';
import { out, outJson, say, table } from './output.ts';

const ADMIN: Actor = { name: 'admin-cli', clientAddress: null };
// No default value: commander would print "(default: [])" in the help of every repeatable option.
const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];
const iso = (ms: number | null): string => (ms === null ? '-' : new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z'));

/** Renders targets as a table (service tokens left out: they are for the members' URLs, not for screens). */
export function targetsTable(targets: Target[]): string {
  return table(
    ['NAME', 'PROJECT', 'ADDRESS', 'USER', 'SERVICES', 'ALLOWED FROM', 'EXPIRES'],
    targets.map((t) => [
      t.name, t.projectName, formatAddress(t.host, t.port), t.loginUser ?? '-',
      t.services.map((s) => formatServiceSpec({ ...s, token: s.token === null ? null : '…' })).join(',') || '-',
      t.allowedCidrs.join(',') || 'any', iso(t.expiresAt),
    ]),
  );
}

/** Registers `admin project`, `admin target` and `admin token` under the `admin` command. */
export function registerInventoryAdminCommands(admin: Command): void {
  registerProjectCommands(admin);
  registerTargetCommands(admin);
  registerTokenCommands(admin);
}

function registerProjectCommands(admin: Command): void {
  const project = admin.command('project').description('Projects and their members (members reach the project\'s targets)');
  project
    .command('add')
    .description('Create a project')
    .argument('<name>', 'project name: lower-case letters, digits, "_" and "-"')
    .addHelpText('after', '\nExample:\n  airlock admin project add genomics')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      await withCore(cmd, async (core) => {
        await core.inventory.addProject(name, ADMIN);
        say(`Created project ${name}. Add members with airlock admin project member add ${name} USER.`);
      });
    });
  project
    .command('list')
    .description('List projects with their members')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  airlock admin project list\n  airlock admin project list --json')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withCore(cmd, async (core) => {
        const projects = await core.inventory.listProjects();
        if (opts.json) outJson(projects.map(projectJson));
        else if (projects.length === 0) say('No projects yet; create one with airlock admin project add NAME.');
        else out(table(['PROJECT', 'MEMBERS', 'CREATED'], projects.map((p) => [p.name, p.members.map((m) => (m.role === 'member' ? m.userName : `${m.userName} (${m.role})`)).join(', ') || '-', iso(p.createdAt)])));
      });
    });

  const member = project.command('member').description('Add or remove project members');
  member
    .command('add')
    .description('Add a user to a project (or change their role)')
    .argument('<project>')
    .argument('<user>')
    .option('--role <role>', 'member, pi or admin', 'member')
    .addHelpText('after', '\nExamples:\n  airlock admin project member add genomics alice\n  airlock admin project member add genomics carol --role pi')
    .action(async (projectName: string, userName: string, opts: { role: string }, cmd: Command) => {
      if (!isProjectRole(opts.role)) throw new AirlockError('bad_request', `--role "${opts.role.slice(0, 32)}" is not a role: use member, pi or admin.`);
      const role = opts.role;
      await withCore(cmd, async (core) => {
        const result = await core.inventory.addMember(projectName, userName, role, ADMIN);
        say(result === 'added' ? `Added ${userName} to ${projectName} as ${role}.` : `${userName} is now ${role} in ${projectName}.`);
      });
    });
  member
    .command('remove')
    .description('Remove a user from a project; they can no longer reach its targets')
    .argument('<project>')
    .argument('<user>')
    .addHelpText('after', '\nExample:\n  airlock admin project member remove genomics alice')
    .action(async (projectName: string, userName: string, _opts: unknown, cmd: Command) => {
      await withCore(cmd, async (core) => {
        await core.inventory.removeMember(projectName, userName, ADMIN);
        say(`Removed ${userName} from ${projectName}.`);
      });
    });
}

function registerTargetCommands(admin: Command): void {
  const target = admin.command('target').description('Targets (VMs, jobs, compute nodes) that project members reach through the gateway');
  target
    .command('add')
    .description('Register a target')
    .argument('<name>', 'target name (becomes the ssh Host alias): lower-case letters, digits and "-"')
    .requiredOption('--project <project>', 'the project whose members may reach it')
    .requiredOption('--address <host:port>', 'IP address or DNS name, with the SSH port (default 22); IPv6 as [2001:db8::5]:22')
    .option('--user <login>', 'login account on the target (default: the user\'s own name)')
    .option('--service <spec>', 'a service for tunnels, NAME=PORT[/path][?token=TOKEN] (repeatable)', collect)
    .option('--allow-cidr <cidr>', 'only clients from this network may reach it (repeatable; default: any)', collect)
    .option('--expires <duration>', 'unreachable and hidden after this long, e.g. 8h or 7d (default: never)')
    .option('--json', 'print the target as JSON')
    .addHelpText('after', `
Examples:
  airlock admin target add vm1 --project genomics --address 10.0.0.5:22 --user ubuntu
  airlock admin target add job-1234 --project genomics --address node17.hpc.example.org:22 \\
      --service 'jupyter=8888/lab?token=3f9c2a' --service redis=6379 --allow-cidr 192.0.2.0/24 --expires 8h`)
    .action(async (name: string, opts: { project: string; address: string; user?: string; service?: string[]; allowCidr?: string[]; expires?: string; json?: boolean }, cmd: Command) => {
      // Everything the flags say is checked before the database is opened.
      const { host, port } = parseAddress(opts.address);
      const services = (opts.service ?? []).map(parseServiceSpec);
      const ttlMs = opts.expires === undefined ? null : parseDuration(opts.expires, '--expires');
      if (ttlMs !== null && ttlMs <= 0) throw new AirlockError('bad_request', '--expires must be longer than zero.');
      await withCore(cmd, async (core) => {
        const t = await core.inventory.addTarget(
          { name, projectName: opts.project, host, port, loginUser: opts.user ?? null, services, allowedCidrs: opts.allowCidr ?? [], expiresAt: ttlMs === null ? null : core.clock.now() + ttlMs },
          ADMIN,
        );
        if (opts.json) {
          outJson(targetJson(t));
          return;
        }
        out(targetsTable([t]));
        say(`Registered ${t.name} in ${t.projectName}${t.expiresAt === null ? '' : `, until ${iso(t.expiresAt)} (${formatDuration(t.expiresAt - core.clock.now())})`}.`);
      });
    });
  target
    .command('list')
    .description('List targets (expired ones only with --all)')
    .option('--project <project>', 'only this project\'s')
    .option('--all', 'include expired targets')
    .option('--json', 'print JSON (service tokens included)')
    .addHelpText('after', '\nExamples:\n  airlock admin target list\n  airlock admin target list --project genomics --json')
    .action(async (opts: { project?: string; all?: boolean; json?: boolean }, cmd: Command) => {
      await withCore(cmd, async (core) => {
        const targets = await core.inventory.listTargets({ ...(opts.project === undefined ? {} : { projectName: opts.project }), includeExpired: Boolean(opts.all) });
        if (opts.json) outJson(targets.map(targetJson));
        else if (targets.length === 0) say('No targets.');
        else out(targetsTable(targets));
      });
    });
  target
    .command('remove')
    .description('Remove a target; it is unreachable at once')
    .argument('<name>')
    .addHelpText('after', '\nExample:\n  airlock admin target remove job-1234')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      await withCore(cmd, async (core) => {
        const t = await core.inventory.removeTarget(name, ADMIN);
        say(`Removed ${t.name} (project ${t.projectName}).`);
      });
    });
}

function registerTokenCommands(admin: Command): void {
  const token = admin.command('token').description('API tokens for orchestrators (OpenStack, Slurm or Kubernetes hooks)');
  token
    .command('create')
    .description('Create a scoped API token for a service account and print it once')
    .requiredOption('--name <account>', 'service account that owns the token (created on first use; it can never sign in)')
    .option('--scope <scope>', `what the token may do (repeatable or comma-separated): ${API_SCOPES.join(', ')}`, collect)
    .option('--project <project>', 'limit the token to one project')
    .option('--expires <duration>', `lifetime, at most 366d (default: ${formatDuration(DEFAULT_API_TOKEN_TTL_MS)})`)
    .option('--json', 'print {"token","account","scopes","project","expires_at"} as JSON')
    .addHelpText('after', `
Scopes:
  targets:write  register and remove targets (POST/DELETE /api/v1/targets)
  targets:read   list targets (GET /api/v1/targets)
  keys:read      fetch a project's keys (GET /api/v1/projects/P/authorized_keys and /cloud-init)

The token is printed on standard output only, once; Airlock keeps only its hash. Store it in the
orchestrator's secret store, and revoke with airlock admin token revoke --name ACCOUNT.

Examples:
  airlock admin token create --name openstack --scope targets:write --scope keys:read --project genomics
  TOKEN=$(airlock admin token create --name slurm --scope targets:write,targets:read --expires 30d)`)
    .action(async (opts: { name: string; scope?: string[]; project?: string; expires?: string; json?: boolean }, cmd: Command) => {
      const scopes = parseScopes(opts.scope ?? []);
      const ttlMs = opts.expires === undefined ? DEFAULT_API_TOKEN_TTL_MS : parseDuration(opts.expires, '--expires');
      await withCore(cmd, async (core) => {
        const created = await core.apiTokens.create({ account: opts.name, scopes, projectName: opts.project ?? null, ttlMs }, ADMIN);
        const expiresAt = new Date(created.record.expiresAt).toISOString();
        if (opts.json) {
          outJson({ token: created.token, account: created.account.name, scopes: created.scopes, project: created.project?.name ?? null, expires_at: expiresAt });
          return;
        }
        out(created.token);
        say(`${created.createdAccount ? 'Created service account' : 'New token for service account'} ${created.account.name}: scopes ${created.scopes.join(', ')}` +
          `${created.project ? `, project ${created.project.name} only` : ', all projects'}, valid until ${expiresAt}. It is shown only this once.`);
      });
    });
  token
    .command('revoke')
    .description('Revoke every API token of a service account')
    .requiredOption('--name <account>', 'the service account')
    .addHelpText('after', '\nExample:\n  airlock admin token revoke --name openstack')
    .action(async (opts: { name: string }, cmd: Command) => {
      await withCore(cmd, async (core) => {
        const count = await core.apiTokens.revokeAll(opts.name, ADMIN);
        say(`Revoked ${count} token(s) of ${opts.name}.`);
      });
    });
}
