// Answers to small lookups kept while the database's generation (generation.ts, pg-generation.ts)
// stays the same: any write through this connection or commit by another empties the cache before
// the next read, so an acknowledged push, tag move or password change is seen by the very next
// request. Without a generation every read goes to the database. A value is kept only when no
// write came while it was being read. Values are shared between requests: they are frozen (also
// uncached, so a caller that changes one fails the same way everywhere).
import { deepFreeze } from '../lib/deep-freeze.js';
import type { Generation } from './generation.js';

const MAX_ENTRIES = 4096;

export class ReadCache<V> {
  private readonly entries = new Map<string, V>();
  private at = -1;

  constructor(
    private readonly generation: Generation | undefined,
    private readonly max = MAX_ENTRIES,
  ) {}

  async get(key: string, load: () => Promise<V>): Promise<V> {
    if (!this.generation) return deepFreeze(await load());
    const now = this.generation.current();
    const before = typeof now === 'number' ? now : await now;
    if (before !== this.at) {
      this.entries.clear();
      this.at = before;
    } else if (this.entries.has(key)) {
      return this.entries.get(key) as V;
    }
    const value = deepFreeze(await load());
    const after = this.generation.current();
    if ((typeof after === 'number' ? after : await after) === before && this.at === before) {
      this.entries.set(key, value);
      // Oldest first out: an evicted answer is just read again.
      if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value as string);
    }
    return value;
  }
}
