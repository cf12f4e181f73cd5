// Opens the embedded SQLite state store (better-sqlite3) in WAL mode with foreign keys on; its
// generation lets the small lookups be answered from memory until something writes.
import Sqlite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { join } from 'node:path';
import type { Database } from './schema.js';
import { SqliteGeneration } from './generation.js';
import { withStatementCache } from './statement-cache.js';
import { StateStore } from './store.js';

export async function openSqliteState(dataDir: string): Promise<StateStore> {
  const db = new Sqlite(join(dataDir, 'state.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL'); // a committed push survives power loss
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  const generation = new SqliteGeneration(db);
  const database = withStatementCache(db, undefined, () => generation.wrote());
  const store = new StateStore(
    new Kysely<Database>({ dialect: new SqliteDialect({ database }) }),
    'sqlite',
    generation,
  );
  // All pending migrations in one transaction: Kysely runs SQLite's without one (each DDL statement
  // its own commit, each fsynced: ~50 on a new data dir), and one transaction is all-or-nothing.
  // IMMEDIATE takes the write lock first, so two processes opening one new file migrate in turn.
  db.exec('BEGIN IMMEDIATE');
  try {
    await store.migrate();
    db.exec('COMMIT');
  } catch (err) {
    if (db.inTransaction) db.exec('ROLLBACK');
    db.close();
    throw err;
  }
  return store;
}
