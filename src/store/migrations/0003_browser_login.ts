/**
 * Browser login: the login requests an SSH connection (or `airlock login --browser`) waits on, the
 * web sessions that approve them, the in-flight OIDC authorisations, and the links from an identity
 * provider's subjects to Airlock users. All of it lives in the database, not in a process, so that an
 * approval made through one replica releases the connection waiting on another (PRODUCT.md, Scale).
 * Secrets are stored only as SHA-256 hashes (checklist item 14).
 */
import type { Kysely, Migration } from 'kysely';

/** The browser-login migration (identical on both dialects). */
export function browserLoginMigration(): Migration {
  return {
    // Migrations see the schema as it was when they were written, not today's Database type.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('browser_logins')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('kind', 'text', (col) => col.notNull())
        // The approval URL's secret and the device flow's polling secret, hashed; unique, so a lookup
        // by hash can never find two requests.
        .addColumn('secret_hash', 'text', (col) => col.notNull().unique())
        .addColumn('poll_hash', 'text', (col) => col.unique())
        .addColumn('user_code', 'text', (col) => col.notNull())
        .addColumn('user_name', 'text', (col) => col.notNull())
        .addColumn('client_address', 'text')
        .addColumn('connection_ref', 'text')
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .addColumn('expires_at', 'bigint', (col) => col.notNull())
        .addColumn('state', 'text', (col) => col.notNull())
        .addColumn('approved_user_id', 'text')
        .addColumn('approved_by', 'text')
        .addColumn('approval_method', 'text')
        .addColumn('decided_at', 'bigint')
        .addColumn('consumed_at', 'bigint')
        .execute();
      await db.schema.createIndex('browser_logins_expires_at').on('browser_logins').column('expires_at').execute();

      await db.schema
        .createTable('web_sessions')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('secret_hash', 'text', (col) => col.notNull().unique())
        .addColumn('user_id', 'text', (col) => col.notNull().references('users.id').onDelete('cascade'))
        .addColumn('method', 'text', (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .addColumn('expires_at', 'bigint', (col) => col.notNull())
        .execute();
      await db.schema.createIndex('web_sessions_user_id').on('web_sessions').column('user_id').execute();

      await db.schema
        .createTable('oidc_states')
        .addColumn('state_hash', 'text', (col) => col.primaryKey())
        .addColumn('nonce', 'text', (col) => col.notNull())
        .addColumn('code_verifier', 'text', (col) => col.notNull())
        .addColumn('return_to', 'text', (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .addColumn('expires_at', 'bigint', (col) => col.notNull())
        .execute();

      await db.schema
        .createTable('external_identities')
        .addColumn('issuer', 'text', (col) => col.notNull())
        .addColumn('subject', 'text', (col) => col.notNull())
        .addColumn('user_id', 'text', (col) => col.notNull().references('users.id').onDelete('cascade'))
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .addPrimaryKeyConstraint('external_identities_pk', ['issuer', 'subject'])
        // One subject per user and issuer: a second IdP account cannot take over a linked user.
        .addUniqueConstraint('external_identities_issuer_user', ['issuer', 'user_id'])
        .execute();
    },

    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    async down(db: Kysely<any>): Promise<void> {
      for (const table of ['external_identities', 'oidc_states', 'web_sessions', 'browser_logins']) {
        await db.schema.dropTable(table).execute();
      }
    },
  };
}
