/**
 * Live gateway connections (issue 12 item 12): each replica records the SSH connections it holds, so
 * that an operator's page on any replica lists them all and can ask for one to end. A replica keeps
 * its heartbeat in `live_replicas`; rows of a replica whose heartbeat stopped (it died) are ignored
 * and then deleted by whichever replica prunes next. "End this connection" is a column set on the row,
 * which the owning replica polls for.
 */
import type { Kysely, Migration } from 'kysely';

/** The live-connections migration (identical on both dialects). */
export function liveConnectionsMigration(): Migration {
  return {
    // Migrations see the schema as it was when they were written, not today's Database type.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('live_replicas')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('started_at', 'bigint', (col) => col.notNull())
        .addColumn('heartbeat_at', 'bigint', (col) => col.notNull())
        .execute();
      await db.schema
        .createTable('live_connections')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('replica_id', 'text', (col) => col.notNull().references('live_replicas.id').onDelete('cascade'))
        .addColumn('user_name', 'text', (col) => col.notNull())
        .addColumn('method', 'text', (col) => col.notNull())
        .addColumn('serial', 'text')
        .addColumn('client_address', 'text', (col) => col.notNull())
        .addColumn('opened_at', 'bigint', (col) => col.notNull())
        .addColumn('sessions', 'integer', (col) => col.notNull())
        // JSON array of {target, host, port, opened_at}; never secrets.
        .addColumn('channels', 'text', (col) => col.notNull())
        .addColumn('bytes_in', 'bigint', (col) => col.notNull())
        .addColumn('bytes_out', 'bigint', (col) => col.notNull())
        .addColumn('updated_at', 'bigint', (col) => col.notNull())
        .addColumn('end_requested_at', 'bigint')
        .addColumn('end_requested_by', 'text')
        .execute();
      // Each replica polls for end requests on its own rows.
      await db.schema.createIndex('live_connections_replica').on('live_connections').columns(['replica_id', 'end_requested_at']).execute();
    },

    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    async down(db: Kysely<any>): Promise<void> {
      await db.schema.dropTable('live_connections').execute();
      await db.schema.dropTable('live_replicas').execute();
    },
  };
}
