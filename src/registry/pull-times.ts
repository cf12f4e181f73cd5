// When each manifest was last pulled (a GET of its bytes; a HEAD checks, it does not pull). A
// pull is the request a registry serves most, so it writes nothing itself: the newest time per
// manifest waits in memory and is written in one transaction at most every `intervalMs`, before
// anything that shows pull times reads them (`flush()`), and at close. A node that dies loses at
// most one interval of pull times, never anything else.
import type { Pull } from '../state/store.js';

/** Pending manifests beyond which a batch is written at once (memory stays bounded). */
const MAX_PENDING = 10_000;

export class PullTimes {
  private readonly pending = new Map<string, Pull>();
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly write: (pulls: Pull[]) => Promise<void>,
    /** Told when a batch written by the timer fails (it is kept for the next one). */
    private readonly onError: (err: unknown) => void,
    private readonly intervalMs = 10_000,
  ) {}

  /** A GET of the manifest `digest` in `repository` was answered now. */
  pulled(repository: string, digest: string): void {
    this.pending.set(`${repository}@${digest}`, { repository, digest, at: new Date().toISOString() });
    if (this.pending.size >= MAX_PENDING) {
      void this.flush().catch(this.onError);
    } else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush().catch(this.onError), this.intervalMs);
      this.timer.unref();
    }
  }

  /**
   * Writes what is pending; resolves once it (and any batch before it) is stored, rejects when
   * this batch could not be (it waits for the next). Nothing pending: waits for a batch being written.
   */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.size === 0) return this.writing;
    const batch = [...this.pending.values()];
    this.pending.clear();
    const written = this.writing
      .then(() => this.write(batch))
      .catch((err: unknown) => {
        // Kept for the next batch, unless a newer pull of the same manifest is already waiting.
        for (const p of batch) {
          const key = `${p.repository}@${p.digest}`;
          if (!this.pending.has(key)) this.pending.set(key, p);
        }
        throw err;
      });
    // The chain itself never rejects: one failed batch does not fail every later flush.
    this.writing = written.catch(() => undefined);
    return written;
  }
}
