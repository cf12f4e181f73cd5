// The per-user limit on builds queued or running (`build.maxQueuedPerUser`): past it, a new build
// is refused with TooManyBuildsError (HTTP 429) instead of waiting, so one user cannot fill the
// queue, the disk (each queued build from an archive keeps its extracted context) or the workers.
// The count is read from the build records (shared by every node on PostgreSQL) plus the places
// this process has handed out but whose record is not written yet (a build being recorded, an
// archive being extracted). Taking a place is serialized per user in this process, so parallel
// requests of one user cannot all see the same count; two nodes admitting one user at the same
// instant may each let one build through.
import { KeyedMutex } from '../registry/keyed-mutex.js';
import type { BuildRecords } from './records.js';

export class TooManyBuildsError extends Error {
  constructor(
    readonly limit: number,
    /** The user counted, or null for builds without a signed-in user (authentication off). */
    readonly requester: string | null,
  ) {
    const who = requester === null ? 'builds without a signed-in user' : `user "${requester}"`;
    super(
      `${who} already ${requester === null ? 'have' : 'has'} ${limit} build${limit === 1 ? '' : 's'} queued or running; at most ${limit} per user (build.maxQueuedPerUser): wait for one to finish, or cancel one`,
    );
  }
}

/** A place in one user's queue, counted until the build's record is written or it is given back. */
export interface QueuePlace {
  readonly requester: string | null;
  /** Gives the place back; a no-op the second time. */
  release(): void;
}

export class QueueLimit {
  private readonly held = new Map<string, number>();
  private readonly mutex = new KeyedMutex();

  constructor(
    private readonly records: BuildRecords,
    readonly max: number,
  ) {}

  /** A place for one more build of requester, or TooManyBuildsError. */
  take(requester: string | null): Promise<QueuePlace> {
    const key = requester === null ? '' : `user:${requester}`;
    return this.mutex.run(key, async () => {
      // Places first, records second: a place given back from here on has its record written
      // already, which the count then sees (a build may count twice, never zero times).
      const places = this.held.get(key) ?? 0;
      const count = places + (await this.records.countActive(requester));
      if (count >= this.max) throw new TooManyBuildsError(this.max, requester);
      this.held.set(key, (this.held.get(key) ?? 0) + 1);
      let holding = true;
      return {
        requester,
        release: () => {
          if (!holding) return;
          holding = false;
          const left = (this.held.get(key) ?? 1) - 1;
          if (left > 0) this.held.set(key, left);
          else this.held.delete(key);
        },
      };
    });
  }
}
