/**
 * The first schema: every table of schema.ts, with the keys and indexes the repositories' queries
 * need. Only Kysely's schema builder, so one definition runs on SQLite and PostgreSQL; the single
 * dialect difference is how an auto-incrementing id is spelled.
 */
import type { ColumnDefinitionBuilder, Kysely, Migration } from 'kysely';
import type { SqlDialect } from '../database.ts';

/** The initial migration for a dialect. */
export function initialMigration(dialect: SqlDialect): Migration {
  return {
    // Migrations see the schema as it was when they were written, not today's Database type.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    async up(db: Kysely<any>): Promise<void> {
      // SQLite: INTEGER PRIMARY KEY AUTOINCREMENT never reuses an id after a delete (audit order);
      // PostgreSQL: bigserial (int8, parsed to a number by database.ts).
      const autoId = dialect === 'postgres' ? ('bigserial' as const) : ('integer' as const);
      const autoIdColumn = (col: ColumnDefinitionBuilder): ColumnDefinitionBuilder =>
        dialect === 'postgres' ? col.primaryKey() : col.primaryKey().autoIncrement();

      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('name', 'text', (col) => col.notNull().unique())
        .addColumn('email', 'text')
        .addColumn('is_admin', 'integer', (col) => col.notNull().defaultTo(0))
        .addColumn('disabled', 'integer', (col) => col.notNull().defaultTo(0))
        .addColumn('password_hash', 'text', (col) => col.notNull())
        .addColumn('totp_secret', 'text')
        .addColumn('source_cidrs', 'text', (col) => col.notNull().defaultTo('[]'))
        .addColumn('extra_principals', 'text', (col) => col.notNull().defaultTo('[]'))
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .execute();

      await db.schema
        .createTable('recovery_codes')
        .addColumn('id', autoId, autoIdColumn)
        .addColumn('user_id', 'text', (col) => col.notNull().references('users.id').onDelete('cascade'))
        .addColumn('code_hash', 'text', (col) => col.notNull())
        .addColumn('used_at', 'bigint')
        // Unique so that consuming a code can never mark more than one row.
        .addUniqueConstraint('recovery_codes_user_code', ['user_id', 'code_hash'])
        .execute();

      await db.schema
        .createTable('totp_used')
        .addColumn('user_id', 'text', (col) => col.notNull().references('users.id').onDelete('cascade'))
        .addColumn('step', 'bigint', (col) => col.notNull())
        .addColumn('used_at', 'bigint', (col) => col.notNull())
        // The replay check (RFC 6238 §5.2) is this key: a second insert of the same step fails.
        .addPrimaryKeyConstraint('totp_used_pk', ['user_id', 'step'])
        .execute();
      await db.schema.createIndex('totp_used_used_at').on('totp_used').column('used_at').execute();

      await db.schema
        .createTable('throttle')
        .addColumn('key', 'text', (col) => col.primaryKey())
        .addColumn('failures', 'integer', (col) => col.notNull())
        .addColumn('first_failure_at', 'bigint', (col) => col.notNull())
        .addColumn('locked_until', 'bigint', (col) => col.notNull())
        .execute();

      await db.schema
        .createTable('tokens')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('token_hash', 'text', (col) => col.notNull().unique())
        .addColumn('user_id', 'text', (col) => col.notNull().references('users.id').onDelete('cascade'))
        .addColumn('kind', 'text', (col) => col.notNull())
        .addColumn('scopes', 'text', (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .addColumn('expires_at', 'bigint', (col) => col.notNull())
        .addColumn('last_used_at', 'bigint')
        .execute();
      await db.schema.createIndex('tokens_user_id').on('tokens').column('user_id').execute();
      await db.schema.createIndex('tokens_expires_at').on('tokens').column('expires_at').execute();

      // No foreign key to users: the record of an issued certificate outlives its user (audit, KRL).
      await db.schema
        .createTable('certificates')
        .addColumn('serial', 'text', (col) => col.primaryKey())
        .addColumn('user_id', 'text', (col) => col.notNull())
        .addColumn('user_name', 'text', (col) => col.notNull())
        .addColumn('key_id', 'text', (col) => col.notNull())
        .addColumn('cert_type', 'text', (col) => col.notNull())
        .addColumn('principals', 'text', (col) => col.notNull())
        .addColumn('public_key', 'text', (col) => col.notNull())
        .addColumn('fingerprint', 'text', (col) => col.notNull())
        .addColumn('valid_after', 'bigint', (col) => col.notNull())
        .addColumn('valid_before', 'bigint', (col) => col.notNull())
        .addColumn('method', 'text', (col) => col.notNull())
        .addColumn('client_address', 'text')
        .addColumn('issued_at', 'bigint', (col) => col.notNull())
        .addColumn('revoked_at', 'bigint')
        .addColumn('revoke_reason', 'text')
        .execute();
      await db.schema.createIndex('certificates_user_issued').on('certificates').columns(['user_id', 'issued_at']).execute();
      await db.schema.createIndex('certificates_issued_at').on('certificates').column('issued_at').execute();
      await db.schema.createIndex('certificates_valid_before').on('certificates').column('valid_before').execute();

      await db.schema
        .createTable('settings')
        .addColumn('key', 'text', (col) => col.primaryKey())
        .addColumn('value', 'text', (col) => col.notNull())
        .execute();

      await db.schema
        .createTable('audit_events')
        .addColumn('id', autoId, autoIdColumn)
        .addColumn('at', 'bigint', (col) => col.notNull())
        .addColumn('type', 'text', (col) => col.notNull())
        .addColumn('outcome', 'text', (col) => col.notNull())
        .addColumn('actor', 'text')
        .addColumn('client_address', 'text')
        .addColumn('details', 'text', (col) => col.notNull())
        .execute();
      await db.schema.createIndex('audit_events_at').on('audit_events').column('at').execute();
      await db.schema.createIndex('audit_events_actor_at').on('audit_events').columns(['actor', 'at']).execute();
    },

    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    async down(db: Kysely<any>): Promise<void> {
      for (const table of ['audit_events', 'settings', 'certificates', 'tokens', 'throttle', 'totp_used', 'recovery_codes', 'users']) {
        await db.schema.dropTable(table).execute();
      }
    },
  };
}
