/**
 * Per-job SSH endpoints (PRODUCT.md "Per-job endpoints", issue 13): jobs, the gateway ports they hold,
 * and each job's connection log. A port's row outlives its job: `held_until` is when the port was last
 * in use (the job's expiry, or when it ended), and a port is handed out again only once a quarantine has
 * passed since then, so that a stale `ssh -p` never lands in someone else's new job. The port is the
 * primary key, and allocation is an insert or a conditional update of that one row, so two replicas
 * allocating at once can never both win a port (no reliance on isolation levels).
 */
import type { Kysely, Migration } from 'kysely';

/** The jobs migration (identical on both dialects). */
export function jobsMigration(): Migration {
  return {
    // Migrations see the schema as it was when they were written, not today's Database type.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('jobs')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('name', 'text', (col) => col.notNull())
        .addColumn('project_id', 'text', (col) => col.notNull().references('projects.id').onDelete('cascade'))
        // JSON array of user ids; empty = every member of the project.
        .addColumn('owners', 'text', (col) => col.notNull())
        .addColumn('host', 'text', (col) => col.notNull())
        .addColumn('ssh_port', 'integer', (col) => col.notNull())
        .addColumn('login_user', 'text', (col) => col.notNull())
        // JSON array of CIDRs clients may connect from; empty = anywhere.
        .addColumn('client_cidrs', 'text', (col) => col.notNull())
        // JSON array of { name, port } of the job's own services (reached with -L).
        .addColumn('services', 'text', (col) => col.notNull())
        // The job's sshd host key (authorized_keys form), pinned; null = trust through the host CA.
        .addColumn('host_key', 'text')
        .addColumn('port', 'integer', (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .addColumn('expires_at', 'bigint', (col) => col.notNull())
        .addColumn('ended_at', 'bigint')
        .addColumn('created_by', 'text')
        .execute();
      await db.schema.createIndex('jobs_project_id').on('jobs').column('project_id').execute();
      await db.schema.createIndex('jobs_expires_at').on('jobs').column('expires_at').execute();

      await db.schema
        .createTable('job_ports')
        .addColumn('port', 'integer', (col) => col.primaryKey())
        .addColumn('job_id', 'text', (col) => col.notNull())
        .addColumn('held_until', 'bigint', (col) => col.notNull())
        .execute();

      await db.schema
        .createTable('job_events')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('job_id', 'text', (col) => col.notNull().references('jobs.id').onDelete('cascade'))
        .addColumn('user_name', 'text')
        .addColumn('client_address', 'text', (col) => col.notNull())
        .addColumn('port', 'integer', (col) => col.notNull())
        .addColumn('started_at', 'bigint', (col) => col.notNull())
        .addColumn('ended_at', 'bigint')
        .addColumn('bytes_in', 'bigint', (col) => col.notNull())
        .addColumn('bytes_out', 'bigint', (col) => col.notNull())
        .addColumn('outcome', 'text', (col) => col.notNull())
        .addColumn('reason', 'text')
        .execute();
      await db.schema.createIndex('job_events_job_id').on('job_events').columns(['job_id', 'started_at']).execute();
    },

    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    async down(db: Kysely<any>): Promise<void> {
      for (const table of ['job_events', 'job_ports', 'jobs']) await db.schema.dropTable(table).execute();
    },
  };
}
