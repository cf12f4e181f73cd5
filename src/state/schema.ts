// Table types for the state store (kysely). One schema for SQLite and PostgreSQL.
import type { Generated } from 'kysely';

export interface RepositoriesTable {
  id: Generated<number>;
  name: string;
  created_at: string;
  /** Set by every push that starts here (upload, mount, manifest put); null before 0007. */
  touched_at: string | null;
}

/** A blob as content: one row per digest, whatever repositories link it. */
export interface BlobsTable {
  digest: string;
  size: number;
  created_at: string;
}

/** Which repository may serve which blob (pushed there or mounted into it). */
export interface RepositoryBlobsTable {
  repository_id: number;
  digest: string;
  created_at: string;
}

export interface ManifestsTable {
  repository_id: number;
  digest: string;
  media_type: string;
  artifact_type: string | null;
  subject_digest: string | null;
  /** JSON of the manifest's annotations, for the referrers list. */
  annotations: string | null;
  size: number;
  created_at: string;
}

/** Edges from a manifest to what it references: layers and config ("blob") or children ("manifest"). */
export interface ManifestReferencesTable {
  repository_id: number;
  manifest_digest: string;
  child_digest: string;
  kind: 'blob' | 'manifest';
}

/** When a manifest was last pulled (a GET of its bytes); no row: never, or before 0015. */
export interface ManifestPullsTable {
  repository_id: number;
  digest: string;
  pulled_at: string;
}

export interface TagsTable {
  repository_id: number;
  name: string;
  manifest_digest: string;
  updated_at: string;
}

export interface UploadsTable {
  id: string;
  repository_id: number;
  started_at: string;
  /** Who opened it, for the per-user limit: "user:<name>", or "address:<ip>" for anonymous
   *  callers and when authentication is off (null before migration 0013). */
  opened_by: string | null;
}

/** The service ledger: one row per service OpenCloud can enable. JSON columns are text. */
export interface ServicesTable {
  name: string;
  state: 'enabled' | 'disabled';
  /** The options of the last successful enable (what `ledger apply` replays). */
  options: string;
  /** What is installed: versions, checksums, sources. */
  facts: string;
  updated_at: string;
  last_run_id: string | null;
}

/** Every plan/enable/disable run with its steps and recap. */
export interface InstallRunsTable {
  id: string;
  service: string;
  action: 'plan' | 'enable' | 'disable';
  status: 'running' | 'ok' | 'failed';
  options: string;
  steps: string | null;
  recap: string | null;
  started_at: string;
  finished_at: string | null;
}

/** A run's events in order (for the UI and resumable event streams). */
export interface InstallEventsTable {
  run_id: string;
  seq: number;
  event: string;
}

/** What an enabled service put on the host; `disable` reverts these, newest first. */
export interface InstallArtifactsTable {
  service: string;
  key: string;
  seq: number;
  artifact: string;
  run_id: string;
  created_at: string;
}

/** Builds: their definition (secrets never stored), state, result and capped log. */
export interface BuildsTable {
  id: string;
  state: 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled';
  definition: string;
  images: string;
  digest: string | null;
  error: string | null;
  log: string;
  events: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  /** Null only in rows of a database older than migration 0011 that had no definition. */
  repository: string | null;
  /** The BuildKit daemon it ran on (its address), once placed. */
  worker: string | null;
  /** The user who asked for it; null when authentication was off (or before migration 0012). */
  requested_by: string | null;
}

/** Users; a password hash is scrypt with its parameters (see src/auth/passwords.ts). */
export interface UsersTable {
  name: string;
  password_hash: string;
  admin: number;
  created_at: string;
  /** When the password last changed (or the user was made), on a whole second: registry tokens
   *  issued before it are refused. Null before migration 0013. */
  credentials_changed_at: string | null;
}

/** Who may do what where: subject "user:<name>" or "anonymous", a repository pattern, actions. */
export interface GrantsTable {
  subject: string;
  pattern: string;
  /** Comma-separated: pull, push, delete, build. */
  actions: string;
  created_at: string;
}

/** API tokens: the secret is stored as its sha256; scopes narrow what the user may do. */
export interface ApiTokensTable {
  id: string;
  user_name: string;
  name: string;
  secret_sha256: string;
  /** JSON list of {pattern, actions} or ["admin"]; null: everything the user may do. */
  scopes: string | null;
  expires_at: string | null;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

/** The audit trail: every mutation, who made it, from where, and how it ended. */
export interface AuditTable {
  id: Generated<number>;
  at: string;
  actor: string;
  address: string;
  action: string;
  target: string;
  status: number;
  detail: string | null;
}

/** Web sessions: the cookie's id is stored as its sha256; each has its own CSRF token. */
export interface SessionsTable {
  id_sha256: string;
  user_name: string;
  csrf: string;
  created_at: string;
  expires_at: string;
}

/** Webhook subscriptions. The secret is kept as given: the server needs it to sign. */
export interface WebhooksTable {
  id: string;
  url: string;
  /** JSON list of event names (push, delete, build.finished, service.changed). */
  events: string;
  /** A repository pattern (as in grants) narrowing repository events; null: every repository. */
  repositories: string | null;
  secret: string;
  enabled: number;
  description: string | null;
  created_at: string;
  updated_at: string;
}

/** One event to one webhook: queued, being sent (leased), or done; the exact body it sends. */
export interface WebhookDeliveriesTable {
  id: string;
  webhook_id: string;
  event_id: string;
  event_type: string;
  subject: string;
  payload: string;
  state: 'pending' | 'delivering' | 'succeeded' | 'failed';
  attempts: number;
  next_attempt_at: string | null;
  /** While 'delivering': when a node that crashed mid-attempt gives the delivery up to others. */
  lease_until: string | null;
  redelivery_of: string | null;
  created_at: string;
  finished_at: string | null;
}

/** Every attempt of a delivery: the answer's status, duration, error and first KiB of its body. */
export interface WebhookAttemptsTable {
  delivery_id: string;
  attempt: number;
  started_at: string;
  duration_ms: number;
  status_code: number | null;
  error: string | null;
  response_excerpt: string | null;
}

/** Named locks held by one process of several sharing a SQLite file (unused on PostgreSQL). */
export interface LocksTable {
  name: string;
  owner: string;
  acquired_at: string;
  expires_at: string;
}

/** Secrets shared by every node of one state (base64 values). */
export interface SecretsTable {
  name: string;
  value: string;
  created_at: string;
}

/** A policy rule (src/policies): its kind, the repositories it applies to, its settings (JSON). */
export interface PoliciesTable {
  kind: string;
  repositories: string;
  rule: string;
  created_at: string;
}

export interface Database {
  repositories: RepositoriesTable;
  blobs: BlobsTable;
  repository_blobs: RepositoryBlobsTable;
  manifests: ManifestsTable;
  manifest_pulls: ManifestPullsTable;
  policies: PoliciesTable;
  manifest_references: ManifestReferencesTable;
  tags: TagsTable;
  uploads: UploadsTable;
  services: ServicesTable;
  install_runs: InstallRunsTable;
  install_events: InstallEventsTable;
  install_artifacts: InstallArtifactsTable;
  builds: BuildsTable;
  users: UsersTable;
  grants: GrantsTable;
  api_tokens: ApiTokensTable;
  audit: AuditTable;
  sessions: SessionsTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  locks: LocksTable;
  secrets: SecretsTable;
}
