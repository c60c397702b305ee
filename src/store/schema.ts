/**
 * The database schema as Kysely types: the contract between migrations and repositories. Columns
 * are portable across SQLite and PostgreSQL: text, integer, bigint (epoch milliseconds), JSON as text,
 * booleans as integer 0/1.
 */
import type { Generated } from 'kysely';

export interface UsersTable {
  id: string; // random UUID
  name: string; // unique; the principal of the user's certificates
  email: string | null;
  is_admin: number; // 0 | 1
  disabled: number; // 0 | 1
  password_hash: string; // PHC string, argon2id
  totp_secret: string | null; // base32; null until enrolled
  source_cidrs: string; // JSON string[]; empty = no restriction
  extra_principals: string; // JSON string[]; operator-mapped principals
  created_at: number;
}

export interface RecoveryCodesTable {
  id: Generated<number>;
  user_id: string; // references users(id) on delete cascade; unique (user_id, code_hash)
  code_hash: string; // SHA-256 hex of the normalised code; codes are high-entropy so no KDF needed
  used_at: number | null;
}

export interface TotpUsedTable {
  user_id: string; // references users(id) on delete cascade
  step: number; // RFC 6238 time step that was accepted; primary key (user_id, step)
  used_at: number;
}

export interface ThrottleTable {
  key: string; // 'user:<name>' or 'addr:<ip>'
  failures: number;
  first_failure_at: number;
  locked_until: number;
}

export interface TokensTable {
  id: string; // random, public identifier
  token_hash: string; // SHA-256 hex of the bearer secret; the secret itself is never stored
  user_id: string; // references users(id) on delete cascade
  kind: string; // 'session' | 'api'
  scopes: string; // JSON string[]
  created_at: number;
  expires_at: number;
  last_used_at: number | null;
}

export interface CertificatesTable {
  serial: string; // decimal string of the uint64 serial; text so any uint64 survives both dialects (int8 is signed)
  user_id: string; // no foreign key: the record outlives the user; '' for host certificates
  user_name: string;
  key_id: string;
  cert_type: string; // 'user' | 'host'
  principals: string; // JSON string[]
  public_key: string; // authorized_keys form of the certified key
  fingerprint: string; // SHA256:… of the certified key
  valid_after: number; // epoch ms
  valid_before: number; // epoch ms
  method: string; // 'password+totp' | 'recovery' | 'oidc' | 'browser' | 'admin'
  client_address: string | null;
  issued_at: number;
  revoked_at: number | null;
  revoke_reason: string | null;
}

export interface SettingsTable {
  key: string;
  value: string;
}

export interface AuditEventsTable {
  id: Generated<number>;
  at: number;
  type: string; // e.g. 'auth.login', 'cert.issue', 'cert.revoke'
  outcome: string; // 'success' | 'failure' | 'denied'
  actor: string | null; // user name, or null when unknown
  client_address: string | null;
  details: string; // JSON object; never holds secrets
}

export interface ProjectsTable {
  id: string; // random UUID
  name: string; // unique; [a-z0-9][a-z0-9_-]{0,62}
  created_at: number;
}

export interface ProjectMembersTable {
  project_id: string;
  user_id: string;
  role: string; // 'member' | 'pi' | 'admin'; primary key (project_id, user_id)
}

export interface TargetsTable {
  id: string; // random UUID
  name: string; // unique; becomes an ssh Host alias
  project_id: string;
  host: string; // canonical IP literal or lower-case DNS name
  port: number;
  login_user: string | null;
  allowed_cidrs: string; // JSON string[]; empty = any client
  expires_at: number | null; // epoch ms; null = no expiry
  created_at: number;
}

export interface TargetServicesTable {
  target_id: string;
  name: string; // primary key (target_id, name)
  port: number;
  path: string | null;
  token: string | null;
}

export interface PublicKeysTable {
  id: string; // random UUID
  user_id: string;
  type: string; // ssh key type name
  bits: number;
  fingerprint: string; // SHA256:…; unique per user
  public_key: string; // authorized_keys form with the comment
  comment: string;
  created_at: number;
}

export interface BrowserLoginsTable {
  id: string; // random UUID; never shown to a browser
  kind: string; // 'ssh' | 'device'
  secret_hash: string; // SHA-256 hex of the approval URL's secret
  poll_hash: string | null; // SHA-256 hex of the device flow's polling secret; null for SSH
  user_code: string; // short code shown in the terminal and on the approval page
  user_name: string; // the Airlock user the login is for (what SSH or the CLI asked for)
  client_address: string | null;
  connection_ref: string | null; // which connection or client started it (audit only)
  created_at: number;
  expires_at: number;
  state: string; // 'pending' | 'approved' | 'denied' | 'consumed'
  approved_user_id: string | null;
  approved_by: string | null; // user name of whoever decided
  approval_method: string | null; // how they had signed in: 'password+totp' | 'recovery' | 'oidc'
  decided_at: number | null;
  consumed_at: number | null;
}

export interface WebSessionsTable {
  id: string; // random UUID
  secret_hash: string; // SHA-256 hex of the cookie's secret
  user_id: string; // references users(id) on delete cascade
  method: string; // how the session was signed in
  created_at: number;
  expires_at: number;
}

export interface OidcStatesTable {
  state_hash: string; // SHA-256 hex of the OAuth `state`
  nonce: string;
  code_verifier: string; // PKCE (RFC 7636); useless without the one-time code
  return_to: string; // local path to continue at after sign-in
  created_at: number;
  expires_at: number;
}

export interface ExternalIdentitiesTable {
  issuer: string;
  subject: string; // primary key (issuer, subject); unique (issuer, user_id)
  user_id: string;
  created_at: number;
}

export interface LiveReplicasTable {
  id: string; // random UUID per gateway start
  started_at: number;
  heartbeat_at: number;
}

export interface LiveConnectionsTable {
  id: string; // random UUID per connection
  replica_id: string; // references live_replicas(id) on delete cascade
  user_name: string;
  method: string;
  serial: string | null; // certificate serial (decimal) when the login used one
  client_address: string;
  opened_at: number;
  sessions: number;
  channels: string; // JSON array of {target, host, port, opened_at}
  bytes_in: number;
  bytes_out: number;
  updated_at: number;
  end_requested_at: number | null;
  end_requested_by: string | null;
}

export interface JobsTable {
  id: string;
  name: string;
  project_id: string; // references projects(id) on delete cascade
  owners: string; // JSON array of user ids; empty = the whole project
  host: string;
  ssh_port: number;
  login_user: string;
  client_cidrs: string; // JSON array of CIDRs; empty = anywhere
  services: string; // JSON array of { name, port }
  forwarding: string; // JSON array of 'x11' | 'agent'; empty = neither (0006_job_forwarding)
  host_key: string | null; // pinned host key (authorized_keys form); null = host CA
  port: number; // the gateway port (job_ports)
  created_at: number;
  expires_at: number;
  ended_at: number | null;
  created_by: string | null;
}

export interface JobPortsTable {
  port: number; // primary key: one holder at a time
  job_id: string;
  held_until: number; // free again once the quarantine has passed after this
}

export interface JobEventsTable {
  id: string;
  job_id: string; // references jobs(id) on delete cascade
  user_name: string | null; // null when refused before authentication
  client_address: string;
  port: number;
  started_at: number;
  ended_at: number | null;
  bytes_in: number;
  bytes_out: number;
  outcome: string;
  reason: string | null;
}

export interface Database {
  users: UsersTable;
  recovery_codes: RecoveryCodesTable;
  totp_used: TotpUsedTable;
  throttle: ThrottleTable;
  tokens: TokensTable;
  certificates: CertificatesTable;
  settings: SettingsTable;
  audit_events: AuditEventsTable;
  projects: ProjectsTable;
  project_members: ProjectMembersTable;
  targets: TargetsTable;
  target_services: TargetServicesTable;
  public_keys: PublicKeysTable;
  browser_logins: BrowserLoginsTable;
  web_sessions: WebSessionsTable;
  oidc_states: OidcStatesTable;
  external_identities: ExternalIdentitiesTable;
  live_replicas: LiveReplicasTable;
  live_connections: LiveConnectionsTable;
  jobs: JobsTable;
  job_ports: JobPortsTable;
  job_events: JobEventsTable;
}
