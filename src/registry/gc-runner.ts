// Runs garbage collection one at a time (API calls and the schedule share it) and on a schedule.
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Registry } from './context.js';
import { collectGarbage, GcBusyError, type GcOptions, type GcReport } from './gc.js';

export { GcBusyError };

export type GcRequest = Partial<Pick<GcOptions, 'dryRun' | 'deleteUntagged' | 'gracePeriod'>>;

export class GcRunner {
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  /** Told of every run's end (metrics): its outcome, seconds taken and bytes reclaimed. */
  onFinished?: (outcome: 'success' | 'dry_run' | 'failure', seconds: number, bytesReclaimed: number) => void;

  constructor(
    private readonly registry: Registry,
    private readonly config: Config,
    private readonly logger: Logger,
  ) {}

  async run(request: GcRequest = {}): Promise<GcReport> {
    if (this.running) throw new GcBusyError();
    this.running = true;
    const started = performance.now();
    try {
      const report = await collectGarbage(this.registry, {
        dryRun: request.dryRun ?? false,
        deleteUntagged: request.deleteUntagged ?? this.config.gc.deleteUntagged,
        gracePeriod: request.gracePeriod ?? this.config.gc.gracePeriod,
        uploadTtl: this.config.registry.uploadTtl,
      });
      this.logger.info(
        {
          gc: {
            dryRun: report.dryRun,
            blobs: report.blobs.length,
            bytesReclaimed: report.bytesReclaimed,
            untaggedManifests: report.untaggedManifests.length,
            repositoriesRemoved: report.repositoriesRemoved.length,
            uploadsExpired: report.uploadsExpired,
            durationMs: report.durationMs,
          },
        },
        'garbage collection finished',
      );
      this.onFinished?.(
        report.dryRun ? 'dry_run' : 'success',
        (performance.now() - started) / 1000,
        report.bytesReclaimed,
      );
      return report;
    } catch (err) {
      this.onFinished?.('failure', (performance.now() - started) / 1000, 0);
      throw err;
    } finally {
      this.running = false;
    }
  }

  /** Starts the periodic schedule (gc.interval seconds; 0 means none). */
  start(): void {
    if (this.config.gc.interval === 0) return;
    this.timer = setInterval(() => {
      this.run().catch((err: unknown) => {
        if (!(err instanceof GcBusyError)) this.logger.error({ err }, 'scheduled garbage collection failed');
      });
    }, this.config.gc.interval * 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
