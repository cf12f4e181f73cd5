// The state side of garbage collection: what is reachable, and conditional deletes that only
// remove what is still unreferenced at the moment they run (so a concurrent push always wins).
import { PostgresAdapter, sql, type ExpressionBuilder, type Kysely, type Transaction } from 'kysely';
import type { Database } from './schema.js';

type Db = Kysely<Database> | Transaction<Database>;

const COLLECTION_LOCK = 'opencloud:collection';

const onPostgres = (db: Db) => db.getExecutor().adapter instanceof PostgresAdapter;

/**
 * Serializes a collection against pushes on PostgreSQL, as SQLite does by itself. SQLite has one
 * writer at a time, and a transaction that read a snapshot cannot commit over a newer write, so a
 * push (check the references, then record the manifest) and a collection (find what is
 * unreferenced, then delete it) never interleave there. PostgreSQL's READ COMMITTED would let
 * them: a push could verify a blob link, the collection delete it as unreferenced, and the push
 * then record a manifest over it. So, inside a transaction on PostgreSQL, pushes hold this
 * advisory lock shared and a collection exclusively, each until its transaction ends (taken
 * before any row lock, in its own statement: every later statement's snapshot sees what the
 * other side committed). Outside a transaction, and on SQLite, it does nothing.
 */
export async function lockAgainstCollection(db: Db, mode: 'shared' | 'exclusive'): Promise<void> {
  if (!db.isTransaction || !onPostgres(db)) return;
  const fn = sql.raw(mode === 'shared' ? 'pg_advisory_xact_lock_shared' : 'pg_advisory_xact_lock');
  await sql`select ${fn}(hashtext(${COLLECTION_LOCK}))`.execute(db);
}

/** "No repository links blob b": the condition both the listing and the delete of orphans use. */
function unlinked({ not, exists, selectFrom }: ExpressionBuilder<Database & { b: Database['blobs'] }, 'b'>) {
  return not(
    exists(
      selectFrom('repository_blobs as rb')
        .select(sql`1`.as('one'))
        .whereRef('rb.digest', '=', 'b.digest'),
    ),
  );
}

export interface ManifestNode {
  repositoryId: number;
  digest: string;
  subjectDigest: string | null;
  createdAt: string;
  size: number;
}

export async function allManifests(db: Db): Promise<ManifestNode[]> {
  await lockAgainstCollection(db, 'exclusive');
  const rows = await db
    .selectFrom('manifests')
    .select(['repository_id', 'digest', 'subject_digest', 'created_at', 'size'])
    .execute();
  return rows.map((r) => ({
    repositoryId: r.repository_id,
    digest: r.digest,
    subjectDigest: r.subject_digest,
    createdAt: r.created_at,
    size: Number(r.size),
  }));
}

export async function allTagTargets(db: Db): Promise<{ repositoryId: number; digest: string }[]> {
  await lockAgainstCollection(db, 'exclusive');
  const rows = await db.selectFrom('tags').select(['repository_id', 'manifest_digest']).execute();
  return rows.map((r) => ({ repositoryId: r.repository_id, digest: r.manifest_digest }));
}

export async function manifestChildren(
  db: Db,
): Promise<{ repositoryId: number; parent: string; child: string }[]> {
  await lockAgainstCollection(db, 'exclusive');
  const rows = await db
    .selectFrom('manifest_references')
    .select(['repository_id', 'manifest_digest', 'child_digest'])
    .where('kind', '=', 'manifest')
    .execute();
  return rows.map((r) => ({
    repositoryId: r.repository_id,
    parent: r.manifest_digest,
    child: r.child_digest,
  }));
}

/**
 * Removes repository links to blobs that nothing in that repository references (no manifest
 * lists them, no manifest is stored under them) and that were linked before `cutoff`.
 */
export async function unlinkUnreferenced(db: Db, cutoff: string): Promise<number> {
  await lockAgainstCollection(db, 'exclusive');
  const res = await db
    .deleteFrom('repository_blobs as rb')
    .where('rb.created_at', '<', cutoff)
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('manifest_references as mr')
            .select(sql`1`.as('one'))
            .whereRef('mr.repository_id', '=', 'rb.repository_id')
            .whereRef('mr.child_digest', '=', 'rb.digest'),
        ),
      ),
    )
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('manifests as m')
            .select(sql`1`.as('one'))
            .whereRef('m.repository_id', '=', 'rb.repository_id')
            .whereRef('m.digest', '=', 'rb.digest'),
        ),
      ),
    )
    .executeTakeFirst();
  return Number(res.numDeletedRows);
}

/** Blobs no repository links: candidates for deletion from the blob store. */
export async function orphanBlobs(db: Db): Promise<{ digest: string; size: number }[]> {
  await lockAgainstCollection(db, 'exclusive');
  const rows = await db
    .selectFrom('blobs as b')
    .select(['b.digest', 'b.size'])
    .where(unlinked)
    .orderBy('b.digest')
    .execute();
  return rows.map((r) => ({ digest: r.digest, size: Number(r.size) }));
}

/** Deletes the blob's row only if it is still unlinked; true when it did. */
export async function deleteBlobIfOrphan(db: Db, digest: string): Promise<boolean> {
  const run = async (trx: Db) => {
    await lockAgainstCollection(trx, 'exclusive');
    const res = await trx
      .deleteFrom('blobs as b')
      .where('b.digest', '=', digest)
      .where(unlinked)
      .executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  };
  // On PostgreSQL in a transaction of its own: the lock must outlast the statement that takes it.
  if (db.isTransaction || !onPostgres(db)) return run(db);
  return db.transaction().execute(run);
}

export async function uploadsStartedBefore(db: Db, cutoff: string): Promise<string[]> {
  return (await db.selectFrom('uploads').select('id').where('started_at', '<', cutoff).execute()).map(
    (r) => r.id,
  );
}

/** Removes a manifest's rows (the manifest, its references, tags pointing at it); false if absent. */
export async function deleteManifestRows(db: Db, repositoryId: number, digest: string): Promise<boolean> {
  const res = await db
    .deleteFrom('manifests')
    .where('repository_id', '=', repositoryId)
    .where('digest', '=', digest)
    .executeTakeFirst();
  if (Number(res.numDeletedRows) === 0) return false;
  await db
    .deleteFrom('manifest_references')
    .where('repository_id', '=', repositoryId)
    .where('manifest_digest', '=', digest)
    .execute();
  await db
    .deleteFrom('tags')
    .where('repository_id', '=', repositoryId)
    .where('manifest_digest', '=', digest)
    .execute();
  return true;
}

export async function repositoryNames(db: Db): Promise<Map<number, string>> {
  const rows = await db.selectFrom('repositories').select(['id', 'name']).execute();
  return new Map(rows.map((r) => [r.id, r.name]));
}

/**
 * Deletes repositories with nothing in them (no tags, manifests, blob links or upload sessions)
 * that no push touched since `cutoff`; returns their names. One conditional delete, so a push
 * that touches or fills a repository first keeps it.
 */
export async function deleteEmptyRepositories(db: Db, cutoff: string): Promise<string[]> {
  await lockAgainstCollection(db, 'exclusive');
  const empty = (table: 'tags' | 'manifests' | 'repository_blobs' | 'uploads') =>
    sql<boolean>`not exists (select 1 from ${sql.table(table)} t where t.repository_id = repositories.id)`;
  const rows = await db
    .deleteFrom('repositories')
    .where(sql<boolean>`coalesce(touched_at, created_at) < ${cutoff}`)
    .where(empty('tags'))
    .where(empty('manifests'))
    .where(empty('repository_blobs'))
    .where(empty('uploads'))
    .returning('name')
    .execute();
  return rows.map((r) => r.name).sort();
}

/** Every tag with its repository, manifest, push time and last pull (retention judges these). */
export async function allTagStates(db: Db): Promise<
  {
    repositoryId: number;
    repository: string;
    tag: string;
    digest: string;
    pushedAt: string;
    pulledAt: string | null;
  }[]
> {
  await lockAgainstCollection(db, 'exclusive');
  return db
    .selectFrom('tags')
    .innerJoin('repositories', 'repositories.id', 'tags.repository_id')
    .leftJoin('manifest_pulls', (j) =>
      j
        .onRef('manifest_pulls.repository_id', '=', 'tags.repository_id')
        .onRef('manifest_pulls.digest', '=', 'tags.manifest_digest'),
    )
    .select([
      'tags.repository_id as repositoryId',
      'repositories.name as repository',
      'tags.name as tag',
      'tags.manifest_digest as digest',
      'tags.updated_at as pushedAt',
      'manifest_pulls.pulled_at as pulledAt',
    ])
    .execute();
}

/**
 * Deletes the tag only if it still points where it did when judged (same manifest, same push
 * time): a tag pushed again meanwhile is the newest now, and stays.
 */
export async function deleteTagIfUnchanged(
  db: Db,
  t: { repositoryId: number; tag: string; digest: string; pushedAt: string },
): Promise<boolean> {
  const r = await db
    .deleteFrom('tags')
    .where('repository_id', '=', t.repositoryId)
    .where('name', '=', t.tag)
    .where('manifest_digest', '=', t.digest)
    .where('updated_at', '=', t.pushedAt)
    .executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/**
 * Inside a transaction on PostgreSQL: waits for, then holds until commit, the lock of one quota
 * (every node counting that namespace takes it). SQLite runs one write transaction at a time.
 */
export async function lockQuota(db: Db, key: string): Promise<void> {
  if (!db.isTransaction || !onPostgres(db)) return;
  await sql`select pg_advisory_xact_lock(hashtext(${`opencloud:quota:${key}`}))`.execute(db);
}

/** The bytes of the distinct blobs the repositories link (each counted once). */
export async function namespaceBytes(db: Db, repositoryIds: number[]): Promise<number> {
  if (repositoryIds.length === 0) return 0;
  const row = await db
    .selectFrom('blobs')
    .select((eb) => eb.fn.sum<string>('size').as('bytes'))
    .where(
      'digest',
      'in',
      db
        .selectFrom('repository_blobs')
        .select('digest')
        .distinct()
        .where('repository_id', 'in', repositoryIds),
    )
    .executeTakeFirst();
  return Number(row?.bytes ?? 0);
}
