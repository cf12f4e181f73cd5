// better-sqlite3 behind Kysely, with each SQL text prepared once. Kysely's SQLite driver calls
// `prepare` for every query, and preparing costs more than running the small lookups a registry
// serves most (a tag, a blob link): the registry's small-request profile spent 10% of its CPU in
// prepare. Statements are kept by SQL text in a bounded map (the least recently used is dropped:
// queries with IN lists of varying length make new texts). Reusing one is safe because Kysely
// runs a statement to completion (`all`/`run`) before the next query, under its connection
// mutex; Kysely's streaming (`iterate`), which would hold a statement busy, is not used here.
import type { Database as Sqlite, Statement } from 'better-sqlite3';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

const DEFAULT_LIMIT = 256;

export function withStatementCache(db: Sqlite, limit = DEFAULT_LIMIT): SqliteDatabase {
  const cache = new Map<string, Statement>();
  const prepare = (sql: string): Statement => {
    const hit = cache.get(sql);
    if (hit) {
      // Map keeps insertion order: moving the hit to the end makes the first key the oldest.
      cache.delete(sql);
      cache.set(sql, hit);
      return hit;
    }
    const stmt = db.prepare(sql);
    cache.set(sql, stmt);
    if (cache.size > limit) cache.delete(cache.keys().next().value as string);
    return stmt;
  };
  return {
    close: () => {
      cache.clear();
      db.close();
    },
    prepare: (sql: string): SqliteStatement => prepare(sql),
  };
}
