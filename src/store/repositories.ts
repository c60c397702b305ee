/**
 * The store's ports: what the cores (identity, CA, audit) may ask of persistence. The Kysely
 * implementation lives beside it; cores import only these types.
 */

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

export interface ThrottleRepository {
  get(key: string): Promise<ThrottleState | undefined>;
  put(state: ThrottleState): Promise<void>;
  clear(key: string): Promise<void>;
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
  byHash(tokenHash: string): Promise<Token | undefined>;
  touch(id: string, now: number): Promise<void>;
  revoke(id: string): Promise<void>;
  revokeAllOfUser(userId: string): Promise<number>;
  pruneExpired(now: number): Promise<void>;
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

export interface CertificateRepository {
  /** Stores an issued certificate; throws AirlockError('conflict') on a duplicate serial (any uint64 is storable). */
  insert(record: CertificateRecord): Promise<void>;
  bySerial(serial: bigint): Promise<CertificateRecord | undefined>;
  /** A user's certificates, newest first. */
  listByUser(userId: string): Promise<CertificateRecord[]>;
  /** All certificates, newest first, optionally only those not expired at `validAt` (valid_before > validAt). */
  listAll(options?: { validAt?: number }): Promise<CertificateRecord[]>;
  /** Issue times of the user's user-certificates issued at or after `since`, oldest first (for the quota). */
  issuedSince(userId: string, since: number): Promise<number[]>;
  /** Marks one certificate revoked; returns false when unknown or already revoked. */
  revoke(serial: bigint, now: number, reason: string): Promise<boolean>;
  /** Revokes every unrevoked certificate of a user; returns the serials revoked. */
  revokeAllOfUser(userId: string, now: number, reason: string): Promise<bigint[]>;
  /** Serials of all revoked certificates that have not yet expired at `now` (what the KRL must list). */
  revokedSerials(now: number): Promise<bigint[]>;
}

export interface SettingsRepository {
  get(key: string): Promise<string | undefined>;
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
}

/** Everything persistent, behind one object; `close()` releases the connection pool. */
export interface Store {
  readonly dialect: 'sqlite' | 'postgres';
  users: UserRepository;
  recoveryCodes: RecoveryCodeRepository;
  totpReplay: TotpReplayRepository;
  throttle: ThrottleRepository;
  tokens: TokenRepository;
  certificates: CertificateRepository;
  settings: SettingsRepository;
  audit: AuditRepository;
  close(): Promise<void>;
}
