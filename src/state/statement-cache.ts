// better-sqlite3 behind Kysely, with each SQL text prepared once. Kysely's SQLite driver calls
// `prepare` for every query, and preparing costs more than running the small lookups a registry
// serves most (a tag, a blob link): the registry's small-request profile spent 10% of its CPU in
// prepare. Statements are kept by SQL text in a bounded map (the least recently used is dropped:
// queries with IN lists of varying length make new texts). Reusing one is safe because Kysely
// runs a statement to completion (`all`/`run`) before the next query, under its connection
// mutex; Kysely's streaming (`iterate`), which would hold a statement busy, is not used here.
// `onWrite` is told after every statement that writes or ends a transaction (generation.ts).
import type { Database as Sqlite, Statement } from 'better-sqlite3';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

const DEFAULT_LIMIT = 256;

// SQLite counts COMMIT and ROLLBACK as read-only statements; they end what the writes began.
const ENDS_TRANSACTION = /^\s*(commit|end|rollback|release)\b/i;

/** `stmt`, calling `onWrite` after each run. */
function reportingWrites(stmt: Statement, onWrite: () => void): SqliteStatement {
  const after = <T>(run: () => T): T => {
    try {
      return run();
    } finally {
      onWrite();
    }
  };
  return {
    reader: stmt.reader,
    all: (parameters) => after(() => stmt.all(parameters as unknown[])),
    run: (parameters) => after(() => stmt.run(parameters as unknown[])),
    iterate: (parameters) => after(() => stmt.iterate(parameters as unknown[])),
  };
}

export function withStatementCache(db: Sqlite, limit = DEFAULT_LIMIT, onWrite?: () => void): SqliteDatabase {
  const cache = new Map<string, SqliteStatement>();
  const prepare = (sql: string): SqliteStatement => {
    const hit = cache.get(sql);
    if (hit) {
      // Map keeps insertion order: moving the hit to the end makes the first key the oldest.
      cache.delete(sql);
      cache.set(sql, hit);
      return hit;
    }
    const prepared = db.prepare(sql);
    const stmt =
      onWrite && (!prepared.readonly || ENDS_TRANSACTION.test(sql))
        ? reportingWrites(prepared, onWrite)
        : prepared;
    cache.set(sql, stmt);
    if (cache.size > limit) cache.delete(cache.keys().next().value as string);
    return stmt;
  };
  return {
    close: () => {
      cache.clear();
      db.close();
    },
    prepare,
  };
}
