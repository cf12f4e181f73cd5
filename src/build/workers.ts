// The BuildKit worker pool: every configured daemon is health-checked (Info + ListWorkers over
// gRPC, at least one worker listed) on a timer, and a build goes to the healthy daemon running
// the fewest builds. A daemon that fails a check, or dies under a build, leaves the rotation until
// a later check finds it answering again; only the builds it was running fail.
import type { Config } from '../config/schema.js';
import { endpointOf, type DaemonEndpoint } from '../runtime/endpoint.js';

export interface WorkerStatus {
  address: string;
  healthy: boolean;
  /** Builds placed on it and not yet finished. */
  running: number;
  /** Why it is out of rotation (the last failed check), or null when healthy. */
  reason: string | null;
  /** When it was last checked (ISO 8601), null before the first check. */
  checkedAt: string | null;
  /** BuildKit's version and its workers' executors, from the last good check. */
  version: string | null;
  executors: string[];
  /** Builds ever placed on it by this process. */
  placed: number;
}

/** The daemons `buildkit.workers` names, or the one at `buildkit.socket`. */
export function workerEndpoints(c: Config['buildkit']): DaemonEndpoint[] {
  const { ca, cert, key, serverName } = c.tls;
  const tls = ca && cert && key ? { ca, cert, key, serverName } : undefined;
  const addresses = c.workers.length > 0 ? c.workers : [`unix://${c.socket}`];
  return addresses.map((a) => endpointOf(a, tls));
}

export class NoWorkerError extends Error {
  constructor(readonly workers: WorkerStatus[]) {
    super(
      `no BuildKit worker is healthy: ${workers.map((w) => `${w.address} (${w.reason ?? 'not checked yet'})`).join('; ')}`,
    );
    this.name = 'NoWorkerError';
  }
}

type HealthClient = Awaited<ReturnType<typeof import('../runtime/buildkit.js').BuildkitClient.health>>;

interface Worker extends WorkerStatus {
  endpoint: DaemonEndpoint;
  checking: Promise<void> | undefined;
  /** Kept between checks (one connection per daemon); dropped when a check fails. */
  client: HealthClient | undefined;
}

export interface WorkerPoolOptions {
  /** Milliseconds between checks of every worker. */
  intervalMs: number;
  /** Deadline of one check. */
  timeoutMs?: number;
}

export class WorkerPool {
  private readonly workers: Worker[];
  private timer: NodeJS.Timeout | undefined;
  private next = 0; // round robin among equally busy workers

  constructor(
    endpoints: DaemonEndpoint[],
    private readonly opts: WorkerPoolOptions,
  ) {
    if (endpoints.length === 0) throw new Error('a worker pool needs at least one BuildKit endpoint');
    this.workers = endpoints.map((endpoint) => ({
      endpoint,
      address: endpoint.address,
      healthy: false,
      running: 0,
      reason: null,
      checkedAt: null,
      version: null,
      executors: [],
      placed: 0,
      checking: undefined,
      client: undefined,
    }));
  }

  /**
   * Checks every worker now and then every interval (the timer does not keep the process up).
   * One worker alone has no other to rotate to: it is taken as healthy and checked only when a
   * build fails on it (or the status is asked for), so the default setup loads no gRPC at start.
   */
  start(): Promise<void> {
    if (this.workers.length === 1) {
      const only = this.workers[0] as Worker;
      only.healthy = true;
      return Promise.resolve();
    }
    this.timer ??= setInterval(() => void this.checkAll(), this.opts.intervalMs).unref();
    return this.checkAll();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const w of this.workers) {
      w.client?.close();
      w.client = undefined;
    }
  }

  get size(): number {
    return this.workers.length;
  }

  status(): WorkerStatus[] {
    return this.workers.map(({ endpoint: _e, checking: _c, client: _k, ...status }) => ({ ...status }));
  }

  checkAll(): Promise<void> {
    return Promise.all(this.workers.map((w) => this.check(w))).then(() => undefined);
  }

  /**
   * Takes the least busy healthy worker for a build; `release` gives it back. When none is
   * healthy every worker is checked once more before giving up with NoWorkerError.
   */
  async acquire(): Promise<{ endpoint: DaemonEndpoint; release: () => void }> {
    let w = this.pick();
    if (!w) {
      await this.checkAll();
      w = this.pick();
    }
    if (!w) throw new NoWorkerError(this.status());
    const worker = w;
    worker.running++;
    worker.placed++;
    let released = false;
    return {
      endpoint: worker.endpoint,
      release: () => {
        if (!released) worker.running--;
        released = true;
      },
    };
  }

  /**
   * After a build failed on `address`: is the daemon itself at fault? Checks it at once; when it
   * no longer answers it leaves the rotation and the reason is returned.
   */
  async blame(address: string): Promise<string | undefined> {
    const w = this.workers.find((x) => x.address === address);
    if (!w) return undefined;
    await this.check(w);
    return w.healthy ? undefined : (w.reason ?? undefined);
  }

  private pick(): Worker | undefined {
    const healthy = this.workers.filter((w) => w.healthy);
    if (healthy.length === 0) return undefined;
    const least = Math.min(...healthy.map((w) => w.running));
    const candidates = healthy.filter((w) => w.running === least);
    return candidates[this.next++ % candidates.length];
  }

  private check(w: Worker): Promise<void> {
    // One check at a time per worker; callers arriving meanwhile share its outcome.
    w.checking ??= this.probe(w).finally(() => {
      w.checking = undefined;
    });
    return w.checking;
  }

  private async probe(w: Worker): Promise<void> {
    const timeoutMs = this.opts.timeoutMs ?? 5000;
    try {
      // gRPC is loaded on the first check, not with the server (most setups never need it).
      const { BuildkitClient } = await import('../runtime/buildkit.js');
      w.client ??= await BuildkitClient.health(w.endpoint);
      const version = await w.client.getVersion(timeoutMs);
      const workers = await w.client.listWorkers(timeoutMs);
      if (workers.length === 0) throw new Error('the daemon answers but lists no worker');
      w.healthy = true;
      w.reason = null;
      w.version = version.version;
      w.executors = workers.map((x) => x.executor);
    } catch (err) {
      w.healthy = false;
      w.reason = (err as Error).message;
      // A new connection next time (and the TLS files read again: a renewed certificate).
      w.client?.close();
      w.client = undefined;
    } finally {
      w.checkedAt = new Date().toISOString();
    }
  }
}
