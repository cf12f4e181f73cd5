// The undo journal: every change an install run makes registers how to reverse it. A failed run
// replays the journal newest first, so the host ends as the run found it.
export interface UndoEntry {
  description: string;
  undo(): Promise<void>;
}

export interface RollbackOutcome {
  undone: string[];
  failed: { description: string; error: string }[];
}

export class UndoJournal {
  private readonly entries: UndoEntry[] = [];

  record(description: string, undo: () => Promise<void>): void {
    this.entries.push({ description, undo });
  }

  get size(): number {
    return this.entries.length;
  }

  /** Undoes everything recorded, newest first; keeps going past failures and reports them. */
  async rollback(onEntry?: (description: string, error?: Error) => void): Promise<RollbackOutcome> {
    const outcome: RollbackOutcome = { undone: [], failed: [] };
    while (this.entries.length > 0) {
      const entry = this.entries.pop() as UndoEntry;
      try {
        await entry.undo();
        outcome.undone.push(entry.description);
        onEntry?.(entry.description);
      } catch (err) {
        outcome.failed.push({ description: entry.description, error: (err as Error).message });
        onEntry?.(entry.description, err as Error);
      }
    }
    return outcome;
  }
}
