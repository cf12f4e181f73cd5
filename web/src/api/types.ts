// The shapes the server's JSON API answers with (README: /api/v1/…), as far as the UI reads them.
export interface SystemInfo {
  version: string;
  node: string;
  buildkitVersion: string;
  /** Host details, for admins only. */
  listen?: string;
  dataDir?: string;
  sockets?: { containerd: string; buildkit: string };
}

export interface ServiceSummary {
  name: string;
  state: string;
  lastRunId: string | null;
  facts: Record<string, unknown>;
}

export type BuildState = 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled';
export const FINAL_BUILD_STATES: readonly BuildState[] = ['succeeded', 'failed', 'canceled'];

export interface BuildRecord {
  id: string;
  state: BuildState;
  definition: {
    repository: string;
    tags: string[];
    noCache: boolean;
    dockerfile: string;
    target?: string;
    platforms?: string[];
    /** Ids of the secrets it used: a repeat needs them again. */
    secretIds?: string[];
    /** Set when the context was an uploaded archive (not kept: such a build cannot be repeated). */
    archive?: { sha256: string; size: number; dockerfile: string };
  };
  images: string[];
  digest: string | null;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** The BuildKit daemon it ran on. */
  worker: string | null;
}

export type BuildEvent =
  | { type: 'state'; state: BuildState; message?: string }
  | {
      type: 'step';
      step: string;
      name: string;
      status: 'started' | 'completed' | 'cached' | 'failed';
      error?: string;
    }
  | { type: 'log'; step: string; name: string; stream: 'stdout' | 'stderr'; text: string }
  | { type: 'progress'; step: string; id: string; current: number; total: number; done: boolean }
  | { type: 'warning'; step: string; text: string }
  | { type: 'output'; text: string };

export interface PlannedChange {
  kind: string;
  target: string;
  action: string;
  detail?: string;
  diff?: string;
}

export interface Recap {
  ok: number;
  changed: number;
  failed: number;
  skipped: number;
}

export interface InstallerEvent {
  type: 'run-start' | 'step-start' | 'step-result' | 'log' | 'progress' | 'rollback' | 'recap';
  time: string;
  step?: string;
  title?: string;
  phase?: string;
  status?: 'ok' | 'changed' | 'failed' | 'skipped';
  reason?: string;
  evidence?: string;
  changes?: PlannedChange[];
  message?: string;
  done?: number;
  total?: number;
  recap?: Recap;
}

/** GET /api/v1/images: containerd's images in the configured namespaces. */
export interface PlatformSize {
  platform: string;
  digest: string;
  size: number | null;
  created: string | null;
}

export interface ContainerdImage {
  namespace: string;
  name: string;
  digest: string;
  mediaType: string;
  size: number | null;
  platforms: PlatformSize[];
  createdAt: string | null;
  updatedAt: string | null;
}

/** GET /api/v1/builder/disk-usage: BuildKit's cache records and the totals `buildctl du` prints. */
export interface CacheRecord {
  id: string;
  mutable: boolean;
  inUse: boolean;
  size: number;
  createdAt: string | null;
  lastUsedAt: string | null;
  usageCount: number;
  description: string;
  recordType: string;
  shared: boolean;
}

export interface CacheUsage {
  totalSize: number;
  reclaimable: number;
  shared: number;
  records: CacheRecord[];
}

export const ACTIONS = ['pull', 'push', 'delete', 'build'] as const;
export type Action = (typeof ACTIONS)[number];

export interface Grant {
  pattern: string;
  actions: Action[];
}

/** GET /api/v1/users */
export interface UserRecord {
  name: string;
  admin: boolean;
  createdAt: string;
  grants: Grant[];
}

/** GET /api/v1/users/{name}/tokens (never the secret: that is shown once, when created). */
export interface TokenRecord {
  id: string;
  user: string;
  name: string;
  /** null: the user's own rights; 'admin'; or narrowed to these grants. */
  scopes: Grant[] | 'admin' | null;
  expiresAt: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** GET /api/v1/registry/summary: counts, storage used and the latest pushes. */
export interface RecentPush {
  repository: string;
  tag: string;
  digest: string;
  at: string;
}

export interface RegistrySummary {
  /** 'registry': the whole registry; 'visible': only the repositories this user may pull. */
  scope: 'registry' | 'visible';
  repositories: number;
  manifests: number;
  tags: number;
  blobs: number;
  blobBytes: number;
  recentPushes: RecentPush[];
}

/** One check of GET /api/v1/system/doctor (admins). */
export interface DoctorCheck {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  message: string;
  fix?: string;
}

export interface DoctorReport {
  healthy: boolean;
  checks: DoctorCheck[];
}
