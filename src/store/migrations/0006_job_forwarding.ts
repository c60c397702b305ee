/**
 * Per-job X11 and agent forwarding (issue 13 item 4: "only when policy allows, off by default"): which
 * of them a job allows, as a JSON array. Jobs registered before this migration allow neither.
 */
import type { Kysely, Migration } from 'kysely';

/** The job-forwarding migration (identical on both dialects). */
export function jobForwardingMigration(): Migration {
  return {
    // Migrations see the schema as it was when they were written, not today's Database type.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.alterTable('jobs').addColumn('forwarding', 'text', (col) => col.notNull().defaultTo('[]')).execute();
    },

    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    async down(db: Kysely<any>): Promise<void> {
      await db.schema.alterTable('jobs').dropColumn('forwarding').execute();
    },
  };
}
