/**
 * The inventory: projects and their members, targets with their services, and the key registry.
 * Foreign keys cascade so that removing a target removes its services, and removing a user or a
 * project removes what hangs off it, in one statement on both dialects (SQLite enforces them because
 * the connection sets `PRAGMA foreign_keys = ON`, see sqlite-driver.ts).
 */
import type { Kysely, Migration } from 'kysely';

/** The inventory migration (identical on both dialects). */
export function inventoryMigration(): Migration {
  return {
    // Migrations see the schema as it was when they were written, not today's Database type.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('projects')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('name', 'text', (col) => col.notNull().unique())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .execute();

      await db.schema
        .createTable('project_members')
        .addColumn('project_id', 'text', (col) => col.notNull().references('projects.id').onDelete('cascade'))
        .addColumn('user_id', 'text', (col) => col.notNull().references('users.id').onDelete('cascade'))
        .addColumn('role', 'text', (col) => col.notNull())
        .addPrimaryKeyConstraint('project_members_pk', ['project_id', 'user_id'])
        .execute();
      // "Which projects is this user in" is asked on every gateway login and channel.
      await db.schema.createIndex('project_members_user_id').on('project_members').column('user_id').execute();

      await db.schema
        .createTable('targets')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('name', 'text', (col) => col.notNull().unique())
        .addColumn('project_id', 'text', (col) => col.notNull().references('projects.id').onDelete('cascade'))
        .addColumn('host', 'text', (col) => col.notNull())
        .addColumn('port', 'integer', (col) => col.notNull())
        .addColumn('login_user', 'text')
        .addColumn('allowed_cidrs', 'text', (col) => col.notNull().defaultTo('[]'))
        .addColumn('expires_at', 'bigint')
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .execute();
      await db.schema.createIndex('targets_project_id').on('targets').column('project_id').execute();

      await db.schema
        .createTable('target_services')
        .addColumn('target_id', 'text', (col) => col.notNull().references('targets.id').onDelete('cascade'))
        .addColumn('name', 'text', (col) => col.notNull())
        .addColumn('port', 'integer', (col) => col.notNull())
        .addColumn('path', 'text')
        .addColumn('token', 'text')
        .addPrimaryKeyConstraint('target_services_pk', ['target_id', 'name'])
        .execute();

      await db.schema
        .createTable('public_keys')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('user_id', 'text', (col) => col.notNull().references('users.id').onDelete('cascade'))
        .addColumn('type', 'text', (col) => col.notNull())
        .addColumn('bits', 'integer', (col) => col.notNull())
        .addColumn('fingerprint', 'text', (col) => col.notNull())
        .addColumn('public_key', 'text', (col) => col.notNull())
        .addColumn('comment', 'text', (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        // The same key twice for one user is refused by the database, so concurrent imports cannot both win.
        .addUniqueConstraint('public_keys_user_fingerprint', ['user_id', 'fingerprint'])
        .execute();
    },

    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    async down(db: Kysely<any>): Promise<void> {
      for (const table of ['public_keys', 'target_services', 'targets', 'project_members', 'projects']) {
        await db.schema.dropTable(table).execute();
      }
    },
  };
}
