// Readiness with a deadline, never a fixed sleep: poll `probe` until it succeeds, `fatal` says
// the daemon cannot come up (its unit failed, its process exited), or the deadline passes.
import { StepError } from '../types.js';

export interface WaitOptions<T> {
  what: string;
  timeoutSec: number;
  probe: () => Promise<T>;
  /** Returns a reason to stop waiting at once. */
  fatal?: () => Promise<string | undefined>;
  /** Evidence for the error: the unit's journal or the daemon's log. */
  evidence: () => Promise<string>;
}

export async function waitUntilReady<T>(opts: WaitOptions<T>): Promise<T> {
  const deadline = Date.now() + opts.timeoutSec * 1000;
  let last = 'no answer yet';
  for (let delay = 100; ; delay = Math.min(delay * 2, 1000)) {
    try {
      return await opts.probe();
    } catch (err) {
      last = (err as Error).message;
    }
    const fatal = await opts.fatal?.();
    if (fatal) throw new StepError(`${opts.what}: ${fatal}`, await opts.evidence());
    if (Date.now() >= deadline) {
      throw new StepError(
        `${opts.what}: not ready within ${opts.timeoutSec} s (last: ${last})`,
        await opts.evidence(),
      );
    }
    await new Promise((r) => setTimeout(r, delay));
  }
}
