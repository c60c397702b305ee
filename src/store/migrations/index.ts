/**
 * All migrations, in order, as a static list: a file-system provider would break once the code is
 * bundled. Names sort in the order they must run; never rename or edit one that has shipped.
 */
import type { Migration, MigrationProvider } from 'kysely';
import type { SqlDialect } from '../database.ts';
import { initialMigration } from './0001_initial.ts';
import { inventoryMigration } from './0002_inventory.ts';
import { browserLoginMigration } from './0003_browser_login.ts';
import { liveConnectionsMigration } from './0004_live_connections.ts';
import { jobsMigration } from './0005_jobs.ts';
import { jobForwardingMigration } from './0006_job_forwarding.ts';

/** The migration provider for a dialect. */
export function migrationProvider(dialect: SqlDialect): MigrationProvider {
  return {
    async getMigrations(): Promise<Record<string, Migration>> {
      return {
        '0001_initial': initialMigration(dialect),
        '0002_inventory': inventoryMigration(),
        '0003_browser_login': browserLoginMigration(),
        '0004_live_connections': liveConnectionsMigration(),
        '0005_jobs': jobsMigration(),
        '0006_job_forwarding': jobForwardingMigration(),
      };
    },
  };
}
