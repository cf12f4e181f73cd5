// BuildKit's build cache records (Control/DiskUsage, Control/Prune) in the API's shape, and the
// totals `buildctl du` prints: everything, what pruning could free (records not in use), shared.
import { isoFromTimestamp, type ProtoTimestamp } from './proto-time.js';

/** A UsageRecord as our gRPC client decodes it (field names as declared in buildkit.proto). */
export interface RawUsageRecord {
  ID: string;
  Mutable: boolean;
  InUse: boolean;
  Size: number;
  CreatedAt: ProtoTimestamp | null;
  LastUsedAt: ProtoTimestamp | null;
  UsageCount: number;
  Description: string;
  RecordType: string;
  Shared: boolean;
  Parents: string[];
}

export interface CacheRecord {
  id: string;
  mutable: boolean;
  inUse: boolean;
  size: number;
  parents: string[];
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

export function cacheRecord(r: RawUsageRecord): CacheRecord {
  return {
    id: r.ID,
    mutable: r.Mutable,
    inUse: r.InUse,
    size: Number(r.Size),
    parents: r.Parents ?? [],
    createdAt: isoFromTimestamp(r.CreatedAt),
    lastUsedAt: isoFromTimestamp(r.LastUsedAt),
    usageCount: Number(r.UsageCount),
    description: r.Description,
    recordType: r.RecordType,
    shared: r.Shared,
  };
}

/** Totals as `buildctl du` counts them; negative sizes (not yet computed) count as nothing. */
export function cacheUsage(records: CacheRecord[]): CacheUsage {
  let totalSize = 0;
  let reclaimable = 0;
  let shared = 0;
  for (const r of records) {
    if (r.size > 0) {
      totalSize += r.size;
      if (!r.inUse) reclaimable += r.size;
      if (r.shared) shared += r.size;
    }
  }
  return { totalSize, reclaimable, shared, records };
}

/** Largest keep-duration accepted, in seconds (ten years; BuildKit wants int64 nanoseconds). */
export const MAX_KEEP_DURATION = 10 * 365 * 86400;

export interface PruneOptions {
  all?: boolean;
  /** Seconds: cache used more recently than this is kept. */
  keepDuration?: number;
  /** Bytes of cache to keep. */
  keepBytes?: number;
}

/** The PruneRequest for these options (keepDuration in nanoseconds). */
export function pruneRequest(o: PruneOptions): {
  filter: string[];
  all: boolean;
  keepDuration: number;
  keepBytes: number;
} {
  return {
    filter: [],
    all: o.all ?? false,
    keepDuration: Math.round((o.keepDuration ?? 0) * 1e9),
    keepBytes: o.keepBytes ?? 0,
  };
}
