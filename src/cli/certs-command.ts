/** `airlock certs list|revoke`: the researcher's own certificate ledger, and self-service revocation. */
import type { Command } from 'commander';
import { AirlockError } from '../errors.ts';
import { apiRequest } from './api-client.ts';
import { requireSession } from './client-state.ts';
import { out, outJson, say, table } from './output.ts';

export interface CertificateJson {
  serial: string; principals: string[]; fingerprint: string; valid_after: string; valid_before: string;
  issued_at: string; method: string; client_address: string | null; status: string; revoked_at: string | null;
}

/** Renders ledger entries as a table. */
export function certificatesTable(list: CertificateJson[], withUser = false): string {
  const rows = list.map((c) => [
    c.serial, ...(withUser ? [(c as CertificateJson & { user?: string }).user ?? '-'] : []), c.status,
    c.issued_at.replace(/\.\d+Z$/, 'Z'), c.valid_before.replace(/\.\d+Z$/, 'Z'), c.method, c.client_address ?? '-', c.fingerprint,
  ]);
  return table(['SERIAL', ...(withUser ? ['USER'] : []), 'STATUS', 'ISSUED', 'EXPIRES', 'METHOD', 'FROM', 'KEY'], rows);
}

/** Registers `certs`. */
export function registerCertsCommands(program: Command): void {
  const certs = program.command('certs').description('List and revoke your certificates');
  certs
    .command('list')
    .description('List every certificate issued to you, newest first')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  airlock certs list')
    .action(async (opts: { json?: boolean }) => {
      const s = requireSession();
      const { certificates } = await apiRequest<{ certificates: CertificateJson[] }>({ server: s.server, token: s.token }, 'GET', '/api/v1/certificates');
      if (opts.json) outJson(certificates);
      else out(certificates.length === 0 ? 'No certificates.' : certificatesTable(certificates));
    });
  certs
    .command('revoke')
    .description('Revoke one certificate by serial, or all of yours with --all')
    .argument('[serial]', 'serial number (see airlock certs list)')
    .option('--all', 'revoke every certificate of yours that is still valid')
    .option('--dry-run', 'show what would be revoked, change nothing')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  airlock certs revoke 4815162342\n  airlock certs revoke --all --dry-run')
    .action(async (serial: string | undefined, opts: { all?: boolean; dryRun?: boolean; json?: boolean }) => {
      if (Boolean(serial) === Boolean(opts.all)) throw new AirlockError('bad_request', 'Give either a serial or --all.');
      const s = requireSession();
      const api = { server: s.server, token: s.token };
      let revoked: string[];
      if (opts.dryRun) {
        const { certificates } = await apiRequest<{ certificates: CertificateJson[] }>(api, 'GET', '/api/v1/certificates');
        const valid = certificates.filter((c) => c.status === 'valid');
        revoked = opts.all ? valid.map((c) => c.serial) : valid.filter((c) => c.serial === serial).map((c) => c.serial);
        if (!opts.all && revoked.length === 0) throw new AirlockError('not_found', `No valid certificate with serial ${serial} belongs to you.`);
        say(`Would revoke ${revoked.length} certificate(s); nothing changed (--dry-run).`);
      } else if (opts.all) {
        ({ revoked } = await apiRequest<{ revoked: string[] }>(api, 'POST', '/api/v1/certificates/revoke-all'));
        say(`Revoked ${revoked.length} certificate(s).`);
      } else {
        ({ revoked } = await apiRequest<{ revoked: string[] }>(api, 'DELETE', `/api/v1/certificates/${encodeURIComponent(serial!)}`));
        say(`Revoked certificate ${serial}.`);
      }
      if (opts.json) outJson({ revoked, dry_run: Boolean(opts.dryRun) });
      else if (revoked.length > 0) out(revoked.join('\n'));
    });
}
