/**
 * Browser-login state on Kysely: login requests, web sessions, in-flight OIDC authorisations and
 * links to identity-provider subjects. Every single-use transition is one conditional statement
 * (UPDATE … WHERE state = … / DELETE … WHERE …) whose affected-row count decides, so two replicas
 * racing for the same request or state cannot both win.
 */
import type { Kysely, Selectable } from 'kysely';
import { AirlockError } from '../errors.ts';
import { isUniqueViolation } from './db-errors.ts';
import type {
  BrowserLoginRecord,
  BrowserLoginRepository,
  ExternalIdentityRecord,
  ExternalIdentityRepository,
  NewBrowserLogin,
  OidcStateRecord,
  OidcStateRepository,
  WebSessionRecord,
  WebSessionRepository,
} from './repositories.ts';
import { toInt, toIntOrNull, toOneOf } from './row-values.ts';
import type { BrowserLoginsTable, Database, OidcStatesTable, WebSessionsTable } from './schema.ts';

const KINDS = ['ssh', 'device'] as const;
const STATES = ['pending', 'approved', 'denied', 'consumed'] as const;

/** The browser-login request repository over a Kysely database. */
export function browserLoginsRepository(db: Kysely<Database>): BrowserLoginRepository {
  return {
    async create(login: NewBrowserLogin): Promise<void> {
      try {
        await db
          .insertInto('browser_logins')
          .values({
            id: login.id,
            kind: login.kind,
            secret_hash: login.secretHash,
            poll_hash: login.pollHash,
            user_code: login.userCode,
            user_name: login.userName,
            client_address: login.clientAddress,
            connection_ref: login.connectionRef,
            created_at: login.createdAt,
            expires_at: login.expiresAt,
            state: 'pending',
            approved_user_id: null,
            approved_by: null,
            approval_method: null,
            decided_at: null,
            consumed_at: null,
          })
          .execute();
      } catch (err) {
        if (isUniqueViolation(err)) throw new AirlockError('conflict', 'a login request with this id or secret already exists', { cause: err });
        throw err;
      }
    },

    async byId(id: string): Promise<BrowserLoginRecord | undefined> {
      const row = await db.selectFrom('browser_logins').selectAll().where('id', '=', id).executeTakeFirst();
      return row === undefined ? undefined : toBrowserLogin(row);
    },

    async bySecretHash(secretHash: string): Promise<BrowserLoginRecord | undefined> {
      const row = await db.selectFrom('browser_logins').selectAll().where('secret_hash', '=', secretHash).executeTakeFirst();
      return row === undefined ? undefined : toBrowserLogin(row);
    },

    async byPollHash(pollHash: string): Promise<BrowserLoginRecord | undefined> {
      const row = await db.selectFrom('browser_logins').selectAll().where('poll_hash', '=', pollHash).executeTakeFirst();
      return row === undefined ? undefined : toBrowserLogin(row);
    },

    async decide(id, decision, now): Promise<boolean> {
      const result = await db
        .updateTable('browser_logins')
        .set({ state: decision.state, approved_user_id: decision.userId, approved_by: decision.userName, approval_method: decision.method, decided_at: now })
        .where('id', '=', id)
        .where('state', '=', 'pending')
        .where('expires_at', '>', now)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },

    async consume(id: string, now: number): Promise<boolean> {
      const result = await db
        .updateTable('browser_logins')
        .set({ state: 'consumed', consumed_at: now })
        .where('id', '=', id)
        .where('state', '=', 'approved')
        .executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },

    async pruneExpired(before: number): Promise<number> {
      const result = await db.deleteFrom('browser_logins').where('expires_at', '<', before).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}

function toBrowserLogin(row: Selectable<BrowserLoginsTable>): BrowserLoginRecord {
  return {
    id: row.id,
    kind: toOneOf(row.kind, KINDS, 'browser_logins.kind'),
    secretHash: row.secret_hash,
    pollHash: row.poll_hash,
    userCode: row.user_code,
    userName: row.user_name,
    clientAddress: row.client_address,
    connectionRef: row.connection_ref,
    createdAt: toInt(row.created_at, 'browser_logins.created_at'),
    expiresAt: toInt(row.expires_at, 'browser_logins.expires_at'),
    state: toOneOf(row.state, STATES, 'browser_logins.state'),
    approvedUserId: row.approved_user_id,
    approvedBy: row.approved_by,
    approvalMethod: row.approval_method,
    decidedAt: toIntOrNull(row.decided_at, 'browser_logins.decided_at'),
    consumedAt: toIntOrNull(row.consumed_at, 'browser_logins.consumed_at'),
  };
}

/** The web-session repository over a Kysely database. */
export function webSessionsRepository(db: Kysely<Database>): WebSessionRepository {
  return {
    async create(session: WebSessionRecord): Promise<void> {
      try {
        await db
          .insertInto('web_sessions')
          .values({ id: session.id, secret_hash: session.secretHash, user_id: session.userId, method: session.method, created_at: session.createdAt, expires_at: session.expiresAt })
          .execute();
      } catch (err) {
        if (isUniqueViolation(err)) throw new AirlockError('conflict', 'a web session with this id or secret already exists', { cause: err });
        throw err;
      }
    },

    async byHash(secretHash: string): Promise<WebSessionRecord | undefined> {
      const row = await db.selectFrom('web_sessions').selectAll().where('secret_hash', '=', secretHash).executeTakeFirst();
      return row === undefined ? undefined : toWebSession(row);
    },

    async remove(id: string): Promise<void> {
      await db.deleteFrom('web_sessions').where('id', '=', id).execute();
    },

    async pruneExpired(now: number): Promise<void> {
      await db.deleteFrom('web_sessions').where('expires_at', '<=', now).execute();
    },

    async listByUser(userId: string, now: number): Promise<WebSessionRecord[]> {
      const rows = await db.selectFrom('web_sessions').selectAll().where('user_id', '=', userId).where('expires_at', '>', now).orderBy('created_at', 'desc').execute();
      return rows.map(toWebSession);
    },

    async removeAllOfUser(userId: string): Promise<number> {
      const result = await db.deleteFrom('web_sessions').where('user_id', '=', userId).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}

function toWebSession(row: Selectable<WebSessionsTable>): WebSessionRecord {
  return {
    id: row.id,
    secretHash: row.secret_hash,
    userId: row.user_id,
    method: row.method,
    createdAt: toInt(row.created_at, 'web_sessions.created_at'),
    expiresAt: toInt(row.expires_at, 'web_sessions.expires_at'),
  };
}

/** The OIDC state repository over a Kysely database. */
export function oidcStatesRepository(db: Kysely<Database>): OidcStateRepository {
  return {
    async create(state: OidcStateRecord): Promise<void> {
      await db
        .insertInto('oidc_states')
        .values({
          state_hash: state.stateHash, nonce: state.nonce, code_verifier: state.codeVerifier, return_to: state.returnTo,
          created_at: state.createdAt, expires_at: state.expiresAt,
        })
        .execute();
    },

    async take(stateHash: string, now: number): Promise<OidcStateRecord | undefined> {
      const row = await db.selectFrom('oidc_states').selectAll().where('state_hash', '=', stateHash).executeTakeFirst();
      if (row === undefined) return undefined;
      // The DELETE decides who gets it: a replayed callback racing the first one finds nothing to delete.
      const result = await db.deleteFrom('oidc_states').where('state_hash', '=', stateHash).executeTakeFirst();
      if (Number(result.numDeletedRows) !== 1) return undefined;
      const record = toOidcState(row);
      return record.expiresAt > now ? record : undefined;
    },

    async pruneExpired(now: number): Promise<void> {
      await db.deleteFrom('oidc_states').where('expires_at', '<=', now).execute();
    },
  };
}

function toOidcState(row: Selectable<OidcStatesTable>): OidcStateRecord {
  return {
    stateHash: row.state_hash,
    nonce: row.nonce,
    codeVerifier: row.code_verifier,
    returnTo: row.return_to,
    createdAt: toInt(row.created_at, 'oidc_states.created_at'),
    expiresAt: toInt(row.expires_at, 'oidc_states.expires_at'),
  };
}

/** The external-identity repository over a Kysely database. */
export function externalIdentitiesRepository(db: Kysely<Database>): ExternalIdentityRepository {
  const toRecord = (row: { issuer: string; subject: string; user_id: string; created_at: number }): ExternalIdentityRecord => ({
    issuer: row.issuer, subject: row.subject, userId: row.user_id, createdAt: toInt(row.created_at, 'external_identities.created_at'),
  });
  return {
    async find(issuer: string, subject: string): Promise<ExternalIdentityRecord | undefined> {
      const row = await db.selectFrom('external_identities').selectAll().where('issuer', '=', issuer).where('subject', '=', subject).executeTakeFirst();
      return row === undefined ? undefined : toRecord(row);
    },

    async byUser(issuer: string, userId: string): Promise<ExternalIdentityRecord | undefined> {
      const row = await db.selectFrom('external_identities').selectAll().where('issuer', '=', issuer).where('user_id', '=', userId).executeTakeFirst();
      return row === undefined ? undefined : toRecord(row);
    },

    async link(record: ExternalIdentityRecord): Promise<void> {
      try {
        await db
          .insertInto('external_identities')
          .values({ issuer: record.issuer, subject: record.subject, user_id: record.userId, created_at: record.createdAt })
          .execute();
      } catch (err) {
        if (isUniqueViolation(err)) throw new AirlockError('conflict', 'this identity or this user is already linked', { cause: err });
        throw err;
      }
    },
  };
}
