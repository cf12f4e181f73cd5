// Opens the embedded SQLite state store (better-sqlite3) in WAL mode with foreign keys on.
import Sqlite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { join } from 'node:path';
import type { Database } from './schema.js';
import { withStatementCache } from './statement-cache.js';
import { StateStore } from './store.js';

export async function openSqliteState(dataDir: string): Promise<StateStore> {
  const db = new Sqlite(join(dataDir, 'state.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL'); // a committed push survives power loss
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  const store = new StateStore(
    new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(db) }) }),
    'sqlite',
  );
  await store.migrate();
  return store;
}
