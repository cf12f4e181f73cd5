// The buildkitd control client: daemon version, the worker list, build cache usage and prune.
// The worker list is what tells whether the containerd worker is really there (a daemon started
// before containerd's socket existed runs without it, silently).
import {
  cacheRecord,
  pruneRequest,
  type CacheRecord,
  type PruneOptions,
  type RawUsageRecord,
} from './build-cache.js';
import { unixClient, type UnaryClient } from './grpc.js';
import { unixStreamClient, type StreamClient } from './grpc-stream.js';

interface RawVersion {
  package: string;
  version: string;
  revision: string;
}
interface RawWorker {
  id: string;
  labels: Record<string, string>;
  platforms: { architecture: string; os: string; variant: string }[];
  buildkitVersion: RawVersion | null;
}

export interface BuildkitWorker {
  id: string;
  /** "containerd" or "oci" (from the worker's executor label). */
  executor: string;
  snapshotter: string;
  hostname: string;
  platforms: string[];
  labels: Record<string, string>;
}

const LABEL_EXECUTOR = 'org.mobyproject.buildkit.worker.executor';
const LABEL_SNAPSHOTTER = 'org.mobyproject.buildkit.worker.snapshotter';
const LABEL_HOSTNAME = 'org.mobyproject.buildkit.worker.hostname';

export class BuildkitClient {
  private readonly control: UnaryClient;
  private stream?: StreamClient;
  constructor(readonly socket: string) {
    this.control = unixClient('buildkit.proto', 'moby.buildkit.v1.Control', socket);
  }

  async getVersion(timeoutMs?: number): Promise<RawVersion> {
    const res = await this.control.call<{ buildkitVersion: RawVersion | null }>('Info', {}, timeoutMs);
    return res.buildkitVersion ?? { package: '', version: 'unknown', revision: '' };
  }

  async listWorkers(timeoutMs?: number): Promise<BuildkitWorker[]> {
    const res = await this.control.call<{ record: RawWorker[] }>('ListWorkers', { filter: [] }, timeoutMs);
    return res.record.map((w) => ({
      id: w.id,
      executor: w.labels[LABEL_EXECUTOR] ?? 'unknown',
      snapshotter: w.labels[LABEL_SNAPSHOTTER] ?? 'unknown',
      hostname: w.labels[LABEL_HOSTNAME] ?? '',
      platforms: w.platforms.map((p) => [p.os, p.architecture, p.variant].filter(Boolean).join('/')),
      labels: w.labels,
    }));
  }

  /** Every build cache record. */
  async diskUsage(timeoutMs = 60_000): Promise<CacheRecord[]> {
    const res = await this.control.call<{ record: RawUsageRecord[] }>('DiskUsage', { filter: [] }, timeoutMs);
    return res.record.map(cacheRecord);
  }

  /** Prunes the build cache; answers the records removed. */
  async prune(opts: PruneOptions, timeoutMs = 10 * 60_000): Promise<CacheRecord[]> {
    this.stream ??= unixStreamClient('buildkit.proto', 'moby.buildkit.v1.Control', this.socket);
    const removed: CacheRecord[] = [];
    await this.stream.stream<RawUsageRecord>(
      'Prune',
      pruneRequest(opts),
      (r) => removed.push(cacheRecord(r)),
      timeoutMs,
    );
    return removed;
  }

  close(): void {
    this.control.close();
    this.stream?.close();
  }
}
