// When what a database connection reads may have changed: a number that moves on every write
// through this connection and on every commit by any other connection (another process on the same
// SQLite file: `opencloud users`, a second server). Read caches (read-cache.ts) keep answers only
// while it stays the same. SQLite tells other connections' commits by `PRAGMA data_version` (here);
// PostgreSQL by notifications its triggers send (pg-generation.ts).
//
// The pragma starts a read transaction (file locks: ~5 µs in the server), so it is asked once per
// run of JavaScript: the answer is kept until the current callback's microtasks have drained.
// Any request served in that run was read from its socket before the pragma was asked, so a commit
// acknowledged to its client before the client sent it is always seen. Writes by another connection
// of this process (which can come within the same run) are counted in memory instead.
import type { Database as Sqlite, Statement } from 'better-sqlite3';

export interface Generation {
  /**
   * The current generation; equal numbers mean nothing was written in between. A promise where
   * finding out takes a round trip (PostgreSQL).
   */
  current(): number | Promise<number>;
  /** Releases what the generation holds (a listening connection). */
  close?(): Promise<void>;
}

/** Writes through any SQLite connection of this process. */
let writesInProcess = 0;

export class SqliteGeneration implements Generation {
  private generation = 0;
  private readonly dataVersion: Statement<[], number>;
  private seen: number;
  private seenWrites = writesInProcess;
  private asked = false;
  private readonly forget = () => {
    this.asked = false;
  };

  constructor(db: Sqlite) {
    this.dataVersion = db.prepare<[], number>('PRAGMA data_version').pluck();
    this.seen = this.dataVersion.get() as number;
  }

  /** Called after every statement that writes, or ends a transaction, on this connection (seen
   *  by every generation of this process at its next `current()`). */
  wrote(): void {
    writesInProcess++;
  }

  current(): number {
    if (this.seenWrites !== writesInProcess) {
      this.seenWrites = writesInProcess;
      this.generation++;
    }
    if (!this.asked) {
      this.asked = true;
      // After the promise chain now running: Node runs next-tick callbacks once microtasks drain.
      process.nextTick(this.forget);
      const version = this.dataVersion.get() as number;
      if (version !== this.seen) {
        this.seen = version;
        this.generation++;
      }
    }
    return this.generation;
  }
}
