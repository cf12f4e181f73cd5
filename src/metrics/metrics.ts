// The server's metric families: HTTP traffic, registry state, garbage collection, builds, daemon
// reachability and the process. Counters and histograms are fed as things happen; the registry
// state (cached 10 s), the daemon probes and the process figures are read at scrape time.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { sql } from 'kysely';
import { BUILDKIT_VERSION, PACKAGE_VERSION } from '../paths.js';
import { probeSocket } from '../runtime/socket.js';
import type { StateStore } from '../state/store.js';
import { MetricRegistry } from './exposition.js';

export const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
export const GC_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900];
export const BUILD_WAIT_BUCKETS = [0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600];
export const BUILD_DURATION_BUCKETS = [1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200];

export type GcOutcome = 'success' | 'dry_run' | 'failure';
export type BuildOutcome = 'succeeded' | 'failed' | 'canceled';
/** ok / failed: the run's recap; busy: another run held the lock; error: it could not run. */
export type InstallerOutcome = 'ok' | 'failed' | 'busy' | 'error';

export interface MetricsOptions {
  state: StateStore;
  sockets: { containerd: string; buildkit: string };
  /** How long registry state counts are reused (ms); 10 s by default. */
  stateCacheMs?: number;
  /** How long a daemon socket probe may take (ms). */
  probeTimeoutMs?: number;
  /** Each quota with what its namespace holds (policies/quotas.ts), read with the state counts. */
  quotaUsage?: () => Promise<{ repositories: string; bytes: number; used: number }[]>;
}

interface StateCounts {
  repositories: number;
  manifests: number;
  tags: number;
  blobs: number;
  blob_bytes: number;
  uploads: number;
}

export class Metrics {
  readonly registry = new MetricRegistry();
  private readonly r = this.registry;

  readonly httpRequests = this.r.counter(
    'opencloud_http_requests_total',
    'HTTP requests answered, by route template, method and status (499: the client left before an answer).',
    ['route', 'method', 'status'],
  );
  readonly httpDuration = this.r.histogram(
    'opencloud_http_request_duration_seconds',
    'Time from a request arriving until its response was finished or cut, by route template, method and status.',
    HTTP_BUCKETS,
    ['route', 'method', 'status'],
  );
  readonly httpRequestBytes = this.r.counter(
    'opencloud_http_request_bytes_total',
    'Request body bytes received (counted on the request stream, after chunked decoding), by route template and method.',
    ['route', 'method'],
  );
  readonly httpResponseBytes = this.r.counter(
    'opencloud_http_response_bytes_total',
    'Response body bytes handed to the socket (headers not included), by route template and method.',
    ['route', 'method'],
  );

  private readonly repositories = this.r.gauge(
    'opencloud_registry_repositories',
    'Repositories in the registry.',
  );
  private readonly manifests = this.r.gauge(
    'opencloud_registry_manifests',
    'Manifests stored, counted once per repository that holds them.',
  );
  private readonly tags = this.r.gauge('opencloud_registry_tags', 'Tags in all repositories.');
  private readonly blobs = this.r.gauge(
    'opencloud_registry_blobs',
    'Blobs stored, manifests included (each digest once, whatever repositories link it).',
  );
  private readonly blobBytes = this.r.gauge(
    'opencloud_registry_blob_bytes',
    'Bytes of the blobs stored, manifests included (each digest once).',
  );
  private readonly uploads = this.r.gauge(
    'opencloud_registry_upload_sessions',
    'Blob upload sessions open (started, neither completed nor canceled nor expired).',
  );
  private readonly quotaLimit = this.r.gauge(
    'opencloud_quota_limit_bytes',
    'The bytes a quota lets the repositories its pattern matches store.',
    ['repositories'],
  );
  private readonly quotaUsed = this.r.gauge(
    'opencloud_quota_used_bytes',
    'The bytes those repositories store now (each blob counted once).',
    ['repositories'],
  );

  readonly gcRuns = this.r.counter(
    'opencloud_gc_runs_total',
    'Garbage collection runs, by outcome (success, dry_run, failure).',
    ['outcome'],
  );
  readonly gcDuration = this.r.histogram(
    'opencloud_gc_duration_seconds',
    'Duration of garbage collection runs (dry runs and failures included).',
    GC_BUCKETS,
  );
  readonly gcReclaimed = this.r.counter(
    'opencloud_gc_reclaimed_bytes_total',
    'Blob bytes deleted by garbage collection (dry runs not counted).',
  );

  readonly builds = this.r.counter(
    'opencloud_builds_total',
    'Builds finished, by outcome (succeeded, failed, canceled).',
    ['outcome'],
  );
  readonly buildWait = this.r.histogram(
    'opencloud_build_queue_wait_seconds',
    'Time builds waited in the queue for a free slot (or until canceled there).',
    BUILD_WAIT_BUCKETS,
  );
  readonly buildDuration = this.r.histogram(
    'opencloud_build_duration_seconds',
    'Time builds ran, from taking a slot to their end (builds canceled while queued not included).',
    BUILD_DURATION_BUCKETS,
  );

  readonly installerRuns = this.r.counter(
    'opencloud_installer_runs_total',
    'Install runs started through the API, by action (plan, enable, disable) and outcome (ok, failed, busy, error).',
    ['action', 'outcome'],
  );

  private readonly daemonUp = this.r.gauge(
    'opencloud_daemon_up',
    "Whether the daemon's socket accepted a connection when scraped (1) or not (0).",
    ['daemon'],
  );

  private readonly rss = this.r.gauge('process_resident_memory_bytes', 'Resident memory size in bytes.');
  private readonly heapUsed = this.r.gauge('nodejs_heap_size_used_bytes', 'V8 heap used, in bytes.');
  private readonly heapTotal = this.r.gauge('nodejs_heap_size_total_bytes', 'V8 heap allocated, in bytes.');
  private readonly external = this.r.gauge(
    'nodejs_external_memory_bytes',
    'Memory of C++ objects bound to JavaScript objects (buffers included), in bytes.',
  );
  private readonly lagMean = this.r.gauge(
    'nodejs_eventloop_lag_mean_seconds',
    'Mean event-loop delay since the previous scrape.',
  );
  private readonly lagP99 = this.r.gauge(
    'nodejs_eventloop_lag_p99_seconds',
    '99th percentile of the event-loop delay since the previous scrape.',
  );
  private readonly lagMax = this.r.gauge(
    'nodejs_eventloop_lag_max_seconds',
    'Largest event-loop delay since the previous scrape.',
  );
  private readonly startTime = this.r.gauge(
    'process_start_time_seconds',
    'Start time of the process since the Unix epoch, in seconds.',
  );
  private readonly uptime = this.r.gauge('opencloud_uptime_seconds', 'Seconds since the process started.');
  private readonly buildInfo = this.r.gauge(
    'opencloud_build_info',
    'Always 1; the labels name the versions of this server, Node.js and the BuildKit it installs.',
    ['version', 'node', 'buildkit'],
  );

  private readonly loopDelay: IntervalHistogram;
  private cached: { at: number; counts: Promise<StateCounts> } | undefined;
  private cachedQuotas:
    { at: number; usage: Promise<{ repositories: string; bytes: number; used: number }[]> } | undefined;

  constructor(private readonly opts: MetricsOptions) {
    for (const outcome of ['success', 'dry_run', 'failure'] as const) this.gcRuns.touch({ outcome });
    for (const outcome of ['succeeded', 'failed', 'canceled'] as const) this.builds.touch({ outcome });
    this.gcReclaimed.touch();
    this.gcDuration.touch();
    this.buildWait.touch();
    this.buildDuration.touch();
    this.buildInfo.set(
      { version: PACKAGE_VERSION, node: process.versions.node, buildkit: BUILDKIT_VERSION },
      1,
    );
    this.startTime.set(undefined, Math.round((Date.now() / 1000 - process.uptime()) * 1000) / 1000);
    this.loopDelay = monitorEventLoopDelay({ resolution: 10 });
    this.loopDelay.enable();
    this.r.collect(() => this.collectState());
    this.r.collect(() => this.collectQuotas());
    this.r.collect(() => this.collectDaemons());
    this.r.collect(() => this.collectProcess());
  }

  httpRequest(
    route: string,
    method: string,
    status: number,
    seconds: number,
    bytesIn: number,
    bytesOut: number,
  ): void {
    this.httpRequests.inc({ route, method, status });
    this.httpDuration.observe({ route, method, status }, seconds);
    this.httpRequestBytes.inc({ route, method }, bytesIn);
    this.httpResponseBytes.inc({ route, method }, bytesOut);
  }

  gcFinished(outcome: GcOutcome, seconds: number, bytesReclaimed: number): void {
    this.gcRuns.inc({ outcome });
    this.gcDuration.observe(undefined, seconds);
    if (outcome === 'success') this.gcReclaimed.inc(undefined, bytesReclaimed);
  }

  buildFinished(outcome: BuildOutcome, waitS: number, durationS: number | undefined): void {
    this.builds.inc({ outcome });
    this.buildWait.observe(undefined, waitS);
    if (durationS !== undefined) this.buildDuration.observe(undefined, durationS);
  }

  installerRunFinished(action: 'plan' | 'enable' | 'disable', outcome: InstallerOutcome): void {
    this.installerRuns.inc({ action, outcome });
  }

  scrape(onError?: (err: unknown) => void): Promise<string> {
    return this.registry.scrape(onError);
  }

  close(): void {
    this.loopDelay.disable();
  }

  /** One query for every count; concurrent scrapes within the cache time share it. */
  private async collectState(): Promise<void> {
    const now = Date.now();
    let entry = this.cached;
    if (!entry || now - entry.at >= (this.opts.stateCacheMs ?? 10_000)) {
      const fresh = { at: now, counts: this.queryState() };
      // A failure is not cached: the next scrape asks again.
      fresh.counts.catch(() => {
        if (this.cached === fresh) this.cached = undefined;
      });
      this.cached = entry = fresh;
    }
    const c = await entry.counts;
    this.repositories.set(undefined, c.repositories);
    this.manifests.set(undefined, c.manifests);
    this.tags.set(undefined, c.tags);
    this.blobs.set(undefined, c.blobs);
    this.blobBytes.set(undefined, c.blob_bytes);
    this.uploads.set(undefined, c.uploads);
  }

  /** Each quota's limit and usage, reused as long as the state counts are. */
  private async collectQuotas(): Promise<void> {
    if (!this.opts.quotaUsage) return;
    const now = Date.now();
    let entry = this.cachedQuotas;
    if (!entry || now - entry.at >= (this.opts.stateCacheMs ?? 10_000)) {
      const fresh = { at: now, usage: this.opts.quotaUsage() };
      fresh.usage.catch(() => {
        if (this.cachedQuotas === fresh) this.cachedQuotas = undefined;
      });
      this.cachedQuotas = entry = fresh;
    }
    const usage = await entry.usage;
    // A removed quota's series goes with it.
    this.quotaLimit.reset();
    this.quotaUsed.reset();
    for (const q of usage) {
      this.quotaLimit.set({ repositories: q.repositories }, q.bytes);
      this.quotaUsed.set({ repositories: q.repositories }, q.used);
    }
  }

  private async queryState(): Promise<StateCounts> {
    const { rows } = await sql<Record<keyof StateCounts, number | string | null>>`
      select
        (select count(*) from repositories) as repositories,
        (select count(*) from manifests) as manifests,
        (select count(*) from tags) as tags,
        (select count(*) from blobs) as blobs,
        (select coalesce(sum(size), 0) from blobs) as blob_bytes,
        (select count(*) from uploads) as uploads
    `.execute(this.opts.state.db);
    const row = rows[0];
    if (!row) throw new Error('the registry state query returned no row');
    // PostgreSQL answers bigint and numeric as strings.
    const n = (v: number | string | null) => Number(v ?? 0);
    return {
      repositories: n(row.repositories),
      manifests: n(row.manifests),
      tags: n(row.tags),
      blobs: n(row.blobs),
      blob_bytes: n(row.blob_bytes),
      uploads: n(row.uploads),
    };
  }

  private async collectDaemons(): Promise<void> {
    const timeout = this.opts.probeTimeoutMs ?? 500;
    await Promise.all(
      (['containerd', 'buildkit'] as const).map(async (daemon) => {
        const up = await probeSocket(this.opts.sockets[daemon], timeout).then(
          () => 1,
          () => 0,
        );
        this.daemonUp.set({ daemon }, up);
      }),
    );
  }

  private collectProcess(): void {
    const mem = process.memoryUsage();
    this.rss.set(undefined, mem.rss);
    this.heapUsed.set(undefined, mem.heapUsed);
    this.heapTotal.set(undefined, mem.heapTotal);
    this.external.set(undefined, mem.external);
    const d = this.loopDelay;
    const seconds = (ns: number) => (Number.isFinite(ns) ? ns / 1e9 : 0);
    this.lagMean.set(undefined, d.count > 0 ? seconds(d.mean) : 0);
    this.lagP99.set(undefined, d.count > 0 ? seconds(d.percentile(99)) : 0);
    this.lagMax.set(undefined, d.count > 0 ? seconds(d.max) : 0);
    d.reset();
    this.uptime.set(undefined, process.uptime());
  }
}
