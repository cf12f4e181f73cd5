// Per-key locks that hold across every registry node sharing one PostgreSQL database: a
// session-level advisory lock on a connection of a small pool of its own, taken inside the
// process's own per-key mutex (so one process never spends two connections on one key). A node
// that dies frees its locks with its connections. The registry takes them per digest: making a
// blob visible (commit + link) on one node and garbage collection deleting it on another
// exclude each other, as they do inside one process.
import pg from 'pg';
import { KeyedMutex } from '../registry/keyed-mutex.js';

/** The first key of the two-key advisory locks: a class of its own ("OC"), apart from other locks. */
const LOCK_CLASS = 0x4f43;
const POOL_SIZE = 8;

export interface KeyedLocks {
  run<T>(key: string, fn: () => Promise<T>): Promise<T>;
  close?(): Promise<void>;
}

export class PgKeyedLocks implements KeyedLocks {
  private readonly local = new KeyedMutex();
  private readonly pool: pg.Pool;

  constructor(url: string) {
    this.pool = new pg.Pool({
      connectionString: url,
      max: POOL_SIZE,
      application_name: 'opencloud-locks',
      connectionTimeoutMillis: 10_000,
    });
    this.pool.on('error', () => {}); // a dropped idle connection: the next lock reconnects
  }

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return this.local.run(key, async () => {
      const client = await this.pool.connect();
      let broken = false;
      try {
        await client.query('select pg_advisory_lock($1, hashtext($2))', [LOCK_CLASS, key]);
        try {
          return await fn();
        } finally {
          await client
            .query('select pg_advisory_unlock($1, hashtext($2))', [LOCK_CLASS, key])
            .catch(() => (broken = true)); // the connection is gone, and its locks with it
        }
      } finally {
        // A connection whose unlock failed is closed, not reused: it might still hold the lock.
        client.release(broken);
      }
    });
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}
