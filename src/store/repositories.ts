/**
 * The store's ports: what the cores (identity, CA, audit) may ask of persistence. The Kysely
 * implementation lives beside it; cores import only these types.
 */
import type { JobRepository } from '../jobs/job.ts';
import type { Project, ProjectMember, ProjectRole, RegisteredKey, Target, TargetService } from '../inventory/ports.ts';

export interface User {
  id: string;
  name: string;
  email: string | null;
  isAdmin: boolean;
  disabled: boolean;
  passwordHash: string;
  totpSecret: string | null;
  sourceCidrs: string[];
  extraPrincipals: string[];
  createdAt: number;
}

export interface NewUser {
  name: string;
  email: string | null;
  isAdmin: boolean;
  passwordHash: string;
  totpSecret: string | null;
  sourceCidrs?: string[];
  extraPrincipals?: string[];
}

export interface UserRepository {
  /** Creates a user; throws AirlockError('conflict') when the name is taken. */
  create(user: NewUser, now: number): Promise<User>;
  byName(name: string): Promise<User | undefined>;
  byId(id: string): Promise<User | undefined>;
  list(): Promise<User[]>;
  /** Sets the disabled flag; false when no user has this name. */
  setDisabled(name: string, disabled: boolean): Promise<boolean>;
  /** Changes the given fields; throws AirlockError('not_found') when no user has this id. */
  update(id: string, patch: Partial<Pick<User, 'email' | 'isAdmin' | 'passwordHash' | 'totpSecret' | 'sourceCidrs' | 'extraPrincipals'>>): Promise<void>;
}

export interface RecoveryCodeRepository {
  /** Replaces all of a user's recovery codes with these hashes (one transaction; the user must exist). */
  replace(userId: string, codeHashes: string[]): Promise<void>;
  /** Marks the code with this hash used; true only if it existed, belonged to the user and was unused (atomic). */
  consume(userId: string, codeHash: string, now: number): Promise<boolean>;
  remaining(userId: string): Promise<number>;
}

export interface TotpReplayRepository {
  /**
   * Records that `step` was used; false if it was already used by this user (atomic, via the primary
   * key). Any other failure (unknown user, database down) rejects, so it cannot pass for either answer.
   */
  markUsed(userId: string, step: number, now: number): Promise<boolean>;
  /** Drops records older than `before` (they can no longer verify anyway). */
  prune(before: number): Promise<void>;
}

export interface ThrottleState {
  key: string;
  failures: number;
  firstFailureAt: number;
  lockedUntil: number;
}

/** What `ThrottleRepository.update` writes per key: a new state, or null to delete the row. */
export type ThrottleWrite = ThrottleState | null;

export interface ThrottleRepository {
  get(key: string): Promise<ThrottleState | undefined>;
  put(state: ThrottleState): Promise<void>;
  clear(key: string): Promise<void>;
  /**
   * Atomic read-modify-write over several keys, also across processes sharing the database: reads the
   * states of `keys` (undefined = no row) with their rows locked, and writes what `change` returns for
   * each key (same order), or nothing when it returns null. Returns the states it read.
   */
  update(keys: readonly string[], change: (states: (ThrottleState | undefined)[]) => ThrottleWrite[] | null): Promise<(ThrottleState | undefined)[]>;
}

export interface Token {
  id: string;
  tokenHash: string;
  userId: string;
  kind: 'session' | 'api';
  scopes: string[];
  createdAt: number;
  expiresAt: number;
  lastUsedAt: number | null;
}

export interface TokenRepository {
  /** Stores a token for an existing user; throws AirlockError('conflict') on a duplicate id or hash. */
  create(token: Omit<Token, 'lastUsedAt'>): Promise<void>;
  /** The token with this hash and its user, read together (one query: authentication's lookup). */
  byHashWithUser(tokenHash: string): Promise<{ token: Token; user: User } | undefined>;
  touch(id: string, now: number): Promise<void>;
  revoke(id: string): Promise<void>;
  revokeAllOfUser(userId: string): Promise<number>;
  pruneExpired(now: number): Promise<void>;
  /** A user's unexpired tokens, newest first (the account page). */
  listByUser(userId: string, now: number): Promise<Token[]>;
}

export interface CertificateRecord {
  serial: bigint;
  userId: string;
  userName: string;
  keyId: string;
  certType: 'user' | 'host';
  principals: string[];
  publicKey: string;
  fingerprint: string;
  validAfter: number;
  validBefore: number;
  method: string;
  clientAddress: string | null;
  issuedAt: number;
  revokedAt: number | null;
  revokeReason: string | null;
}

/**
 * The ledger method of the certificates the per-job proxy mints for its own logins to jobs: listed and
 * revocable like any other, but not counted against the user's daily quota (the user asked for none).
 */
export const SESSION_CERT_METHOD = 'job-session';

export interface CertificateRepository {
  /** Stores an issued certificate; throws AirlockError('conflict') on a duplicate serial (any uint64 is storable). */
  insert(record: CertificateRecord): Promise<void>;
  bySerial(serial: bigint): Promise<CertificateRecord | undefined>;
  /** A user's certificates, newest first. */
  listByUser(userId: string): Promise<CertificateRecord[]>;
  /** All certificates, newest first, optionally only those not expired at `validAt` (valid_before > validAt). */
  listAll(options?: { validAt?: number }): Promise<CertificateRecord[]>;
  /**
   * Stores an issued user certificate if the quota still allows it, atomically across replicas: in
   * one transaction (holding the user's row lock on PostgreSQL) `check` gets what issuedSince would
   * return and throws to refuse; nothing is stored then. `event` (the issuance's audit event) is
   * stored in the same transaction, so a certificate is never in the ledger without it.
   */
  insertWithinQuota(record: CertificateRecord, quota: { since: number; limit: number; check: (issuedAt: number[]) => void }, event?: AuditEvent): Promise<void>;
  /** Issue times of the user's unrevoked user-certificates issued at or after `since`, oldest first (for the quota: a revoked certificate frees its slot); with `limit`, only the newest `limit`. */
  issuedSince(userId: string, since: number, limit?: number): Promise<number[]>;
  /** Marks one certificate revoked and raises the KRL version, in one transaction; returns false (and changes nothing) when unknown or already revoked. */
  revoke(serial: bigint, now: number, reason: string): Promise<boolean>;
  /** Revokes every unrevoked certificate of a user and raises the KRL version if any was, in one transaction; returns the serials revoked. */
  revokeAllOfUser(userId: string, now: number, reason: string): Promise<bigint[]>;
  /** The KRL version: 0 before the first revocation, then raised by every revoke/revokeAllOfUser that changed something. */
  krlVersion(): Promise<number>;
  /** Serials of all revoked certificates that have not yet expired at `now` (what the KRL must list). */
  revokedSerials(now: number): Promise<bigint[]>;
}

export interface SettingsRepository {
  get(key: string): Promise<string | undefined>;
  /** Several settings in one query (absent keys are absent from the map). */
  getMany(keys: readonly string[]): Promise<Map<string, string>>;
  set(key: string, value: string): Promise<void>;
  /** Atomically increments an integer setting (0 when absent) and returns the new value; one statement, safe across replicas. */
  increment(key: string): Promise<number>;
}

export interface AuditEvent {
  id?: number;
  at: number;
  type: string;
  outcome: 'success' | 'failure' | 'denied';
  actor: string | null;
  clientAddress: string | null;
  details: Record<string, unknown>;
}

export interface AuditRepository {
  append(event: AuditEvent): Promise<void>;
  /** Events at or after `since`, oldest first, at most `limit` (no limit when absent). */
  list(options: { since?: number; limit?: number; actor?: string; type?: string }): Promise<AuditEvent[]>;
  /** Events matching every given filter, newest first; `beforeId` continues after the last page's oldest event. */
  search(filter: AuditFilter): Promise<AuditEvent[]>;
}

/** The operators' audit filter: all given conditions hold. */
export interface AuditFilter {
  actor?: string;
  /** A type, or a prefix of one ending at a dot (`gateway` matches `gateway.channel`). */
  type?: string;
  outcome?: AuditEvent['outcome'];
  /** Epoch ms, inclusive. */
  from?: number;
  /** Epoch ms, exclusive. */
  to?: number;
  /** Only events with an id below this one (the next page). */
  beforeId?: number;
  limit: number;
}

export interface ProjectRepository {
  /** Creates a project; throws AirlockError('conflict') when the name is taken. */
  create(name: string, now: number): Promise<Project>;
  byName(name: string): Promise<Project | undefined>;
  byId(id: string): Promise<Project | undefined>;
  /** All projects, ordered by name. */
  list(): Promise<Project[]>;
  /** Adds the user to the project, or changes their role; says which it was. */
  setMember(projectId: string, userId: string, role: ProjectRole): Promise<'added' | 'updated'>;
  /** Removes a membership; false when the user was not a member. */
  removeMember(projectId: string, userId: string): Promise<boolean>;
  /** The project's members with their user names, ordered by user name. */
  members(projectId: string): Promise<ProjectMember[]>;
  /** The projects a user belongs to, with their role, ordered by project name. */
  projectsOfUser(userId: string): Promise<(Project & { role: ProjectRole })[]>;
}

/** A target as the inventory hands it to the store (validated, project resolved). */
export interface NewTargetRecord {
  name: string;
  projectId: string;
  host: string;
  port: number;
  loginUser: string | null;
  services: TargetService[];
  allowedCidrs: string[];
  expiresAt: number | null;
}

export interface TargetRepository {
  /**
   * Stores a target and its services in one transaction. A target of the same name that has expired
   * by `now` is replaced (its name is free again); a live one makes this AirlockError('conflict').
   */
  create(target: NewTargetRecord, now: number): Promise<Target>;
  /** A target by name, expired or not. */
  byName(name: string): Promise<Target | undefined>;
  /** Targets ordered by name; `projectId` narrows to one project, `validAt` drops those expired by then. */
  list(options?: { projectId?: string; validAt?: number }): Promise<Target[]>;
  /** Unexpired targets of every project the user is a member of, ordered by name. */
  listForUser(userId: string, now: number): Promise<Target[]>;
  /** Deletes a target (and, by cascade, its services); `projectId` restricts it to one project. */
  remove(name: string, options?: { projectId?: string }): Promise<boolean>;
}

/** A key as the key registry hands it to the store (parsed, checked, fingerprinted). */
export interface NewPublicKeyRecord {
  userId: string;
  type: string;
  bits: number;
  fingerprint: string;
  publicKey: string;
  comment: string;
}

export interface PublicKeyRepository {
  /** Stores a key; throws AirlockError('conflict') when the user already registered this fingerprint. */
  create(key: NewPublicKeyRecord, now: number): Promise<RegisteredKey>;
  byUserAndFingerprint(userId: string, fingerprint: string): Promise<RegisteredKey | undefined>;
  /** A user's keys, oldest first. */
  listByUser(userId: string): Promise<RegisteredKey[]>;
  countByUser(userId: string): Promise<number>;
  /** Deletes one of a user's keys; false when the user has no key with this fingerprint. */
  remove(userId: string, fingerprint: string): Promise<boolean>;
  /** The keys of the project's members whose accounts are not disabled, by user name then age. */
  listForProject(projectId: string): Promise<RegisteredKey[]>;
}

export type BrowserLoginKind = 'ssh' | 'device';
export type BrowserLoginState = 'pending' | 'approved' | 'denied' | 'consumed';

/** A browser login request: one SSH connection (or one device flow) waiting for a person to approve it. */
export interface BrowserLoginRecord {
  id: string;
  kind: BrowserLoginKind;
  secretHash: string;
  pollHash: string | null;
  userCode: string;
  /** The Airlock user the request is for; only that user may approve it. */
  userName: string;
  clientAddress: string | null;
  connectionRef: string | null;
  createdAt: number;
  expiresAt: number;
  state: BrowserLoginState;
  approvedUserId: string | null;
  approvedBy: string | null;
  approvalMethod: string | null;
  decidedAt: number | null;
  consumedAt: number | null;
}

export type NewBrowserLogin = Omit<BrowserLoginRecord, 'state' | 'approvedUserId' | 'approvedBy' | 'approvalMethod' | 'decidedAt' | 'consumedAt'>;

export interface BrowserLoginRepository {
  /** Stores a pending request; throws AirlockError('conflict') on a duplicate id or secret hash. */
  create(login: NewBrowserLogin): Promise<void>;
  byId(id: string): Promise<BrowserLoginRecord | undefined>;
  bySecretHash(secretHash: string): Promise<BrowserLoginRecord | undefined>;
  byPollHash(pollHash: string): Promise<BrowserLoginRecord | undefined>;
  /**
   * Decides a pending, unexpired request (one conditional UPDATE): true only for the one caller whose
   * decision was recorded; false when it was already decided, consumed or expired at `now`.
   */
  decide(id: string, decision: { state: 'approved' | 'denied'; userId: string; userName: string; method: string }, now: number): Promise<boolean>;
  /** Marks an approved request consumed; true only for the one caller that did (single use). */
  consume(id: string, now: number): Promise<boolean>;
  /** Deletes requests that expired before `before`; returns how many. */
  pruneExpired(before: number): Promise<number>;
}

export interface WebSessionRecord {
  id: string;
  secretHash: string;
  userId: string;
  method: string;
  createdAt: number;
  expiresAt: number;
}

export interface WebSessionRepository {
  /** Stores a session for an existing user; throws AirlockError('conflict') on a duplicate id or hash. */
  create(session: WebSessionRecord): Promise<void>;
  byHash(secretHash: string): Promise<WebSessionRecord | undefined>;
  remove(id: string): Promise<void>;
  pruneExpired(now: number): Promise<void>;
  /** A user's unexpired web sessions, newest first (the account page). */
  listByUser(userId: string, now: number): Promise<WebSessionRecord[]>;
  /** Ends all of a user's web sessions ("sign out everywhere"); returns how many there were. */
  removeAllOfUser(userId: string): Promise<number>;
}

export interface OidcStateRecord {
  stateHash: string;
  nonce: string;
  codeVerifier: string;
  returnTo: string;
  createdAt: number;
  expiresAt: number;
}

export interface OidcStateRepository {
  create(state: OidcStateRecord): Promise<void>;
  /** Removes and returns the record (single use): only one caller ever gets it; expired ones are not returned. */
  take(stateHash: string, now: number): Promise<OidcStateRecord | undefined>;
  pruneExpired(now: number): Promise<void>;
}

export interface ExternalIdentityRecord {
  issuer: string;
  subject: string;
  userId: string;
  createdAt: number;
}

export interface ExternalIdentityRepository {
  find(issuer: string, subject: string): Promise<ExternalIdentityRecord | undefined>;
  /** The subject linked to a user at an issuer, if any. */
  byUser(issuer: string, userId: string): Promise<ExternalIdentityRecord | undefined>;
  /** Links a subject to a user; throws AirlockError('conflict') when either side is already linked. */
  link(record: ExternalIdentityRecord): Promise<void>;
}

/** One channel of a live connection, as recorded for operators. */
export interface LiveChannelRecord {
  target: string;
  host: string;
  port: number;
  openedAt: number;
}

/** A live gateway connection as a replica records it (live-connections.ts). */
export interface LiveConnectionRecord {
  id: string;
  replicaId: string;
  userName: string;
  method: string;
  serial: string | null;
  clientAddress: string;
  openedAt: number;
  sessions: number;
  channels: LiveChannelRecord[];
  bytesIn: number;
  bytesOut: number;
  updatedAt: number;
  endRequestedAt: number | null;
  endRequestedBy: string | null;
}

export interface LiveConnectionRepository {
  /** Records that the replica is alive at `now` (creates its row the first time). */
  heartbeat(replicaId: string, startedAt: number, now: number): Promise<void>;
  /** Inserts or updates the replica's connections (the end-request columns are left as they are). */
  upsert(rows: Omit<LiveConnectionRecord, 'endRequestedAt' | 'endRequestedBy'>[]): Promise<void>;
  /** Deletes connections that ended. */
  remove(ids: readonly string[]): Promise<void>;
  /** Connections of replicas whose heartbeat is at or after `aliveSince`, newest first. */
  list(aliveSince: number): Promise<LiveConnectionRecord[]>;
  /** Marks a connection of a live replica for ending; false when there is none (or it already was). */
  requestEnd(id: string, by: string, now: number, aliveSince: number): Promise<boolean>;
  /** The replica's connections that an operator asked to end. */
  endRequests(replicaId: string): Promise<{ id: string; by: string }[]>;
  /** Deletes replicas (and, by cascade, their connections) whose heartbeat is older than `before`, or the one named. */
  removeReplicas(options: { before?: number; id?: string }): Promise<void>;
}

/** Everything persistent, behind one object; `close()` releases the connection pool. */
export interface Store {
  readonly dialect: 'sqlite' | 'postgres';
  /** One trivial query: whether the database answers (readiness). */
  ping(): Promise<void>;
  /** The connection pool's use (PostgreSQL), or null (SQLite has one connection, no pool). */
  poolStats(): { total: number; idle: number; waiting: number } | null;
  users: UserRepository;
  recoveryCodes: RecoveryCodeRepository;
  totpReplay: TotpReplayRepository;
  throttle: ThrottleRepository;
  tokens: TokenRepository;
  certificates: CertificateRepository;
  settings: SettingsRepository;
  audit: AuditRepository;
  projects: ProjectRepository;
  targets: TargetRepository;
  publicKeys: PublicKeyRepository;
  browserLogins: BrowserLoginRepository;
  webSessions: WebSessionRepository;
  oidcStates: OidcStateRepository;
  externalIdentities: ExternalIdentityRepository;
  liveConnections: LiveConnectionRepository;
  jobs: JobRepository;
  close(): Promise<void>;
}
