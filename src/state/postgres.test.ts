// The state store contract on PostgreSQL (the test server scripts/test-env/postgres.sh starts):
// each test gets a fresh database, CREATE DATABASE oc_test_<random> from the superuser URL in
// env.json, dropped afterwards. Plus what only PostgreSQL has: opening it (errors that name the
// server but never the password), integers beyond 2^53 refused, several nodes migrating at once.
import { createServer, type AddressInfo } from 'node:net';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { missing, titled } from '../../test/support/env.js';
import { createDatabase, databaseUrl, dropDatabase } from '../../test/support/postgres.js';
import { migrationsFor } from './migrations.js';
import { openPostgresState } from './postgres.js';
import { describeStateStoreContract, numberedManifest, tagLatest } from './store.contract.js';
import type { StateStore } from './store.js';

const skip = missing('postgres');
describe.skipIf(skip !== undefined)(titled('state store on PostgreSQL', skip), () => {
  describeStateStoreContract('contract', async () => {
    const database = await createDatabase();
    const opened: StateStore[] = [];
    try {
      opened.push(await openPostgresState(databaseUrl(database)));
    } catch (err) {
      await dropDatabase(database);
      throw err;
    }
    return {
      state: opened[0]!,
      openAnother: async () => {
        const s = await openPostgresState(databaseUrl(database));
        opened.push(s);
        return s;
      },
      cleanup: async () => {
        for (const s of opened.splice(0)) await s.close().catch(() => {});
        await dropDatabase(database);
      },
    };
  });

  describe('opening', () => {
    let database: string;
    beforeAll(async () => {
      database = await createDatabase();
    });
    afterAll(async () => {
      if (database) await dropDatabase(database);
    });

    it('several nodes opening one new database at once migrate it once', async () => {
      const stores = await Promise.all(
        Array.from({ length: 5 }, () => openPostgresState(databaseUrl(database))),
      );
      try {
        const state = stores[0]!;
        const { rows } = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(
          state.db,
        );
        // Each migration recorded once, none missing.
        expect(rows.map((r) => r.name)).toEqual(Object.keys(migrationsFor('postgres')).sort());
        // Every node works on the result.
        const ids = await Promise.all(stores.map((s) => s.ensureRepository('shared/repo')));
        expect(new Set(ids).size).toBe(1);
      } finally {
        for (const s of stores) await s.close();
      }
    });

    it('gives integers as numbers and refuses those beyond Number.MAX_SAFE_INTEGER', async () => {
      const state = await openPostgresState(databaseUrl(database));
      try {
        const { rows } = await sql<{
          n: number;
          s: number;
          big: number;
        }>`select count(*) as n, sum(x) as s, ${Number.MAX_SAFE_INTEGER}::int8 as big from (values (2::int8), (3::int8)) v(x)`.execute(
          state.db,
        );
        expect(rows[0]).toEqual({ n: 2, s: 5, big: Number.MAX_SAFE_INTEGER });
        await expect(sql`select 9007199254740993::int8 as n`.execute(state.db)).rejects.toThrow(
          /beyond what a JavaScript number holds/,
        );
        await expect(sql`select 9007199254740993::numeric as n`.execute(state.db)).rejects.toThrow(
          /beyond what a JavaScript number holds/,
        );
        const avg = await sql<{ a: number }>`select avg(x) as a from (values (1), (2)) v(x)`.execute(
          state.db,
        );
        expect(avg.rows[0]?.a).toBe(1.5);
        // The pool is still usable after a refused value.
        expect(await state.repositoryId('no/such/repository')).toBeUndefined();
      } finally {
        await state.close();
      }
    });

    it('a server that does not answer: an error naming host, port and database, not the password', async () => {
      // A port that was free a moment ago: listened on, then closed.
      const closed = await new Promise<number>((resolve, reject) => {
        const server = createServer();
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => {
          const { port } = server.address() as AddressInfo;
          server.close(() => resolve(port));
        });
      });
      const err = (await openPostgresState(
        `postgres://opencloud:s3cret-Passw0rd@127.0.0.1:${closed}/registry`,
      ).catch((e: unknown) => e)) as Error;
      expect(err).toBeInstanceOf(Error);
      expect(err.message).toContain(`127.0.0.1:${closed}/registry`);
      expect(err.message).not.toContain('s3cret-Passw0rd');
    });

    it('a wrong database or user: the server refusal, without the password', async () => {
      const u = new URL(databaseUrl('no_such_database_here'));
      u.password = 'another-s3cret';
      const err = (await openPostgresState(u.toString()).catch((e: unknown) => e)) as Error;
      expect(err).toBeInstanceOf(Error);
      expect(err.message).toMatch(/no_such_database_here/);
      expect(err.message).toContain(`${u.hostname}:${u.port}`);
      expect(err.message).not.toContain('another-s3cret');
    });

    it('connects as application_name opencloud', async () => {
      const state = await openPostgresState(databaseUrl(database));
      try {
        const { rows } = await sql<{ a: string }>`select current_setting('application_name') as a`.execute(
          state.db,
        );
        expect(rows[0]?.a).toBe('opencloud');
      } finally {
        await state.close();
      }
    });
  });

  // The small lookups are answered from memory on PostgreSQL too (pg-generation.ts): a commit by
  // another node, or by anything else writing to the database, is seen by the very next read.
  describe('read caches see every other node', () => {
    let database: string;
    let a: StateStore;
    let b: StateStore;
    let raw: pg.Client;
    const latest = async (state: StateStore) =>
      (await state.reads.manifestByTag('gen/app', 'latest'))?.digest;

    beforeEach(async () => {
      database = await createDatabase();
      a = await openPostgresState(databaseUrl(database));
      b = await openPostgresState(databaseUrl(database));
      raw = new pg.Client({ connectionString: databaseUrl(database) });
      await raw.connect();
    });
    afterEach(async () => {
      await raw.end();
      await a.close();
      await b.close();
      await dropDatabase(database);
    });

    it('a tag moved through another node is read moved at once', async () => {
      await tagLatest(a, 1);
      expect(await latest(b)).toBe(numberedManifest(1).digest);
      await tagLatest(a, 2);
      expect(await latest(b)).toBe(numberedManifest(2).digest);
      const repo = await a.repositoryId('gen/app');
      await a.deleteManifest(repo!, numberedManifest(2).digest);
      expect(await latest(b)).toBeUndefined();
    });

    it('keeps answers in memory until a change is announced', async () => {
      await tagLatest(a, 1);
      await tagLatest(a, 2);
      await tagLatest(a, 1);
      expect(await latest(b)).toBe(numberedManifest(1).digest);
      // A change that announces nothing (triggers off for this session) is not seen: the answer
      // comes from memory. Announced, it is.
      await raw.query('set session_replication_role = replica');
      await raw.query("update tags set manifest_digest = $1 where name = 'latest'", [
        numberedManifest(2).digest,
      ]);
      expect(await latest(b)).toBe(numberedManifest(1).digest);
      await raw.query("select pg_notify('opencloud_state', '')");
      expect(await latest(b)).toBe(numberedManifest(2).digest);
    });

    it('reads from the database while it cannot listen, and listens again', async () => {
      await tagLatest(a, 1);
      await tagLatest(a, 2);
      expect(await latest(b)).toBe(numberedManifest(2).digest);
      await raw.query('set session_replication_role = replica');
      const listeners =
        "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'opencloud (changes)'";
      const cut = await raw.query(listeners);
      expect(cut.rowCount).toBe(2); // one per node
      await new Promise((r) => setTimeout(r, 100));
      // Unannounced, and still seen: nothing is kept while nobody listens.
      await raw.query("update tags set manifest_digest = $1 where name = 'latest'", [
        numberedManifest(1).digest,
      ]);
      expect(await latest(b)).toBe(numberedManifest(1).digest);
      const deadline = Date.now() + 10_000;
      while (
        (await raw.query("select 1 from pg_stat_activity where application_name = 'opencloud (changes)'"))
          .rowCount! < 2
      ) {
        expect(Date.now()).toBeLessThan(deadline);
        await new Promise((r) => setTimeout(r, 100));
      }
      // Listening again: answers are kept (an unannounced change is not seen), announced ones are.
      expect(await latest(b)).toBe(numberedManifest(1).digest);
      await raw.query("update tags set manifest_digest = $1 where name = 'latest'", [
        numberedManifest(2).digest,
      ]);
      expect(await latest(b)).toBe(numberedManifest(1).digest);
      await raw.query('set session_replication_role = origin');
      await raw.query("update tags set manifest_digest = $1 where name = 'latest'", [
        numberedManifest(2).digest,
      ]);
      expect(await latest(b)).toBe(numberedManifest(2).digest);
    });
  });
});
