/**
 * `airlock admin job add|list|renew|end|events`: what an orchestrator does through the API
 * (http/job-routes.ts), for operators and scripts on the server. Like the other admin commands they act
 * on the data directory or database directly, and every change is audited with the actor `admin-cli`.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { formatDuration, parseDuration } from '../duration.ts';
import type { Actor } from '../inventory/ports.ts';
import { parseServiceSpec } from '../inventory/service-spec.ts';
import type { Job } from '../jobs/job.ts';
import { jobCommand, jobEventJson, jobJson } from '../jobs/jobs-service.ts';
import { withCore } from './admin-commands.ts';
import { out, outJson, say, table } from './output.ts';

const ADMIN: Actor = { name: 'admin-cli', clientAddress: null };
const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];
const iso = (ms: number | null): string => (ms === null ? '-' : new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z'));

function jobsTable(jobs: Job[], gatewayHost: string): string {
  return table(
    ['ID', 'NAME', 'PROJECT', 'PORT', 'JOB SSHD', 'USER', 'ALLOWED FROM', 'FORWARDING', 'EXPIRES', 'ENDED', 'COMMAND'],
    jobs.map((j) => [j.id, j.name, j.projectName, String(j.port), `${j.host}:${j.sshPort}`, j.loginUser, j.clientCidrs.join(',') || 'any', j.forwarding.join(',') || 'none', iso(j.expiresAt), iso(j.endedAt), jobCommand(j, gatewayHost, null)]),
  );
}

/** Registers `admin job` under the `admin` command. */
export function registerJobAdminCommands(admin: Command): void {
  const job = admin.command('job').description('Per-job SSH endpoints: ssh -p PORT user@gateway lands in the job while it lives (needs AIRLOCK_JOB_PORTS)');
  job
    .command('add')
    .description('Register a job and allocate its gateway port')
    .argument('<name>', 'job name: lower-case letters, digits and "-"')
    .requiredOption('--project <project>', 'the project the job belongs to')
    .requiredOption('--host <host>', 'the job\'s sshd address (IP or DNS name)')
    .option('--ssh-port <port>', 'the job\'s sshd port', '22')
    .requiredOption('--user <login>', 'the account on the job researchers log in as')
    .requiredOption('--host-key <file>', 'the job sshd\'s host public key, or its host certificate (airlock admin host-cert)')
    .requiredOption('--expires <duration>', 'the job\'s lifetime, e.g. 8h (renew with airlock admin job renew)')
    .option('--owner <user>', 'a user who may enter the job (repeatable; default: every project member)', collect)
    .option('--allow-cidr <cidr>', 'only clients from this network may connect (repeatable; default: any)', collect)
    .option('--service <spec>', 'a service on the job for -L, NAME=PORT (repeatable)', collect)
    .option('--allow-forwarding <feature>', 'let researchers forward x11 or agent (ssh -X / ssh -A) into the job (repeatable; off by default; the server must allow it: AIRLOCK_JOB_FORWARDING)', collect)
    .option('--json', 'print the job as JSON')
    .addHelpText('after', `
Example:
  airlock admin job add job-1234 --project genomics --host node17.hpc.example.org --user alice \\
      --host-key /etc/ssh/ssh_host_ed25519_key.pub --expires 8h --owner alice --allow-cidr 192.0.2.0/24 --service jupyter=8888`)
    .action(async (name: string, opts: { project: string; host: string; sshPort: string; user: string; hostKey: string; expires: string; owner?: string[]; allowCidr?: string[]; service?: string[]; allowForwarding?: string[]; json?: boolean }, cmd: Command) => {
      const ttlMs = parseDuration(opts.expires, '--expires');
      const hostKey = readFileSync(opts.hostKey, 'utf8').trim();
      await withCore(cmd, async (core) => {
        const j = await core.jobs.create({
          name, projectName: opts.project, owners: opts.owner ?? [], host: opts.host, sshPort: Number(opts.sshPort), loginUser: opts.user,
          clientCidrs: opts.allowCidr ?? [], services: (opts.service ?? []).map((s) => { const p = parseServiceSpec(s); return { name: p.name, port: p.port }; }),
          forwarding: opts.allowForwarding ?? [], hostKey, expiresAt: core.clock.now() + ttlMs,
        }, ADMIN);
        const gatewayHost = core.config.sshPublic?.host ?? core.config.sshListen.host;
        if (opts.json) outJson(jobJson(j, { host: gatewayHost }));
        else {
          out(jobsTable([j], gatewayHost));
          say(`Registered job ${j.name} on port ${j.port}, until ${iso(j.expiresAt)} (${formatDuration(j.expiresAt - core.clock.now())}). Researchers connect with: ${jobCommand(j, gatewayHost, null)}`);
        }
      });
    });
  job
    .command('list')
    .description('List live jobs (ended and expired ones too with --all)')
    .option('--all', 'include ended and expired jobs')
    .option('--json', 'print JSON')
    .action(async (opts: { all?: boolean; json?: boolean }, cmd: Command) => {
      await withCore(cmd, async (core) => {
        const jobs = await core.jobs.list({ all: Boolean(opts.all) });
        const gatewayHost = core.config.sshPublic?.host ?? core.config.sshListen.host;
        if (opts.json) outJson(jobs.map((j) => jobJson(j, { host: gatewayHost })));
        else if (jobs.length === 0) say('No jobs.');
        else out(jobsTable(jobs, gatewayHost));
      });
    });
  job
    .command('renew')
    .description('Extend a live job\'s lifetime (its port stays the same)')
    .argument('<id>')
    .requiredOption('--expires <duration>', 'the new lifetime from now, e.g. 4h')
    .action(async (id: string, opts: { expires: string }, cmd: Command) => {
      const ttlMs = parseDuration(opts.expires, '--expires');
      await withCore(cmd, async (core) => {
        const j = await core.jobs.renew(id, core.clock.now() + ttlMs, ADMIN);
        say(`Job ${j.name} now lives until ${iso(j.expiresAt)}.`);
      });
    });
  job
    .command('end')
    .description('End a job now: its port stops accepting and live sessions are closed within a second')
    .argument('<id>')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      await withCore(cmd, async (core) => {
        const j = await core.jobs.end(id, ADMIN);
        say(`Job ${j.name} has ended; port ${j.port} is in quarantine.`);
      });
    });
  job
    .command('events')
    .description('The job\'s log: each connection with user, client address, port, start, end, bytes and outcome')
    .argument('<id>')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      await withCore(cmd, async (core) => {
        const events = await core.jobs.events(id);
        if (opts.json) outJson(events.map(jobEventJson));
        else if (events.length === 0) say('No connections yet.');
        else out(table(['START', 'END', 'USER', 'FROM', 'PORT', 'IN', 'OUT', 'OUTCOME', 'REASON'], events.map((e) => [iso(e.startedAt), iso(e.endedAt), e.userName ?? '-', e.clientAddress, String(e.port), String(e.bytesIn), String(e.bytesOut), e.outcome, e.reason ?? ''])));
      });
    });
}
