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
import { readFile } from 'node:fs/promises';
import type { DaemonEndpoint } from './endpoint.js';
import { tlsClient, unixClient, type UnaryClient } from './grpc.js';
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

  /** A client for the Info and ListWorkers calls of any worker endpoint (health checks). */
  static async health(
    e: DaemonEndpoint,
  ): Promise<Pick<BuildkitClient, 'getVersion' | 'listWorkers' | 'close'>> {
    if (e.kind === 'unix') return new BuildkitClient(e.socket);
    const [ca, cert, key] = await Promise.all([e.tls.ca, e.tls.cert, e.tls.key].map((f) => readFile(f)));
    const control = tlsClient('buildkit.proto', 'moby.buildkit.v1.Control', {
      host: e.host,
      port: e.port,
      ca: ca as Buffer,
      cert: cert as Buffer,
      key: key as Buffer,
      serverName: e.tls.serverName,
    });
    return {
      getVersion: (t) => versionOf(control, t),
      listWorkers: (t) => workersOf(control, t),
      close: () => control.close(),
    };
  }

  getVersion(timeoutMs?: number): Promise<RawVersion> {
    return versionOf(this.control, timeoutMs);
  }

  listWorkers(timeoutMs?: number): Promise<BuildkitWorker[]> {
    return workersOf(this.control, timeoutMs);
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

async function versionOf(control: UnaryClient, timeoutMs?: number): Promise<RawVersion> {
  const res = await control.call<{ buildkitVersion: RawVersion | null }>('Info', {}, timeoutMs);
  return res.buildkitVersion ?? { package: '', version: 'unknown', revision: '' };
}

async function workersOf(control: UnaryClient, timeoutMs?: number): Promise<BuildkitWorker[]> {
  const res = await control.call<{ record: RawWorker[] }>('ListWorkers', { filter: [] }, timeoutMs);
  return res.record.map((w) => ({
    id: w.id,
    executor: w.labels[LABEL_EXECUTOR] ?? 'unknown',
    snapshotter: w.labels[LABEL_SNAPSHOTTER] ?? 'unknown',
    hostname: w.labels[LABEL_HOSTNAME] ?? '',
    platforms: w.platforms.map((p) => [p.os, p.architecture, p.variant].filter(Boolean).join('/')),
    labels: w.labels,
  }));
}
