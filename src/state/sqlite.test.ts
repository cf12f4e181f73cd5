// The state store contract on SQLite: a fresh state.db in a temp dir per test, and a second
// store on the same file standing in for a second process.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { openSqliteState } from './sqlite.js';
import { describeStateStoreContract, numberedManifest, tagLatest } from './store.contract.js';

describeStateStoreContract('state store on SQLite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'opencloud-state-'));
  const state = await openSqliteState(dir);
  return {
    state,
    openAnother: () => openSqliteState(dir),
    cleanup: async () => {
      await state.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

// The small lookups are answered from memory on SQLite (generation.ts, read-cache.ts): another
// connection's commit must be seen by the very next read, from another process (the pragma, once
// the current callback's microtasks have drained) and from this one (at once, even within them).
describe('SQLite read caches see every other writer', () => {
  it('a tag moved through another connection of this process is read moved at once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'opencloud-gen-'));
    const a = await openSqliteState(dir);
    const b = await openSqliteState(dir);
    try {
      await tagLatest(a, 1);
      expect((await a.reads.manifestByTag('gen/app', 'latest'))?.digest).toBe(numberedManifest(1).digest);
      await tagLatest(b, 2);
      expect((await a.reads.manifestByTag('gen/app', 'latest'))?.digest).toBe(numberedManifest(2).digest);
    } finally {
      await b.close();
      await a.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a tag moved by another process is read moved by the next callback', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'opencloud-gen-'));
    const a = await openSqliteState(dir);
    try {
      await tagLatest(a, 1);
      expect((await a.reads.manifestByTag('gen/app', 'latest'))?.digest).toBe(numberedManifest(1).digest);
      // Another process: a plain connection that commits without this process's counters seeing it.
      const other = new Sqlite(join(dir, 'state.db'));
      other.pragma('busy_timeout = 5000');
      const m = numberedManifest(3);
      const repo = other.prepare('select id from repositories where name = ?').pluck().get('gen/app');
      other
        .prepare(
          'insert into manifests (repository_id, digest, media_type, size, created_at) values (?, ?, ?, ?, ?)',
        )
        .run(repo, m.digest, m.mediaType, m.size, new Date().toISOString());
      other
        .prepare('update tags set manifest_digest = ? where repository_id = ? and name = ?')
        .run(m.digest, repo, 'latest');
      other.close();
      await new Promise((r) => setImmediate(r)); // a request would arrive in a later callback
      expect((await a.reads.manifestByTag('gen/app', 'latest'))?.digest).toBe(m.digest);
    } finally {
      await a.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
