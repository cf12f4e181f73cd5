// The StateStore: repositories, blob links, manifests and their references, tags, upload
// sessions. Listing, tag lookups, referrers and garbage collection read this, never the
// filesystem. One query layer (kysely) over SQLite or PostgreSQL.
import { Kysely, Migrator, type Migration, type MigrationProvider, type Transaction } from 'kysely';
import { deleteManifestRows } from './gc-queries.js';
import { migrationsFor, type Dialect } from './migrations.js';
import type { Database } from './schema.js';

export interface ManifestRecord {
  digest: string;
  mediaType: string;
  artifactType: string | null;
  subjectDigest: string | null;
  annotations: Record<string, string> | null;
  size: number;
}

export interface ManifestReference {
  digest: string;
  kind: 'blob' | 'manifest';
}

const now = () => new Date().toISOString();

export class MissingReferenceError extends Error {
  constructor(readonly reference: ManifestReference) {
    super(`${reference.kind} ${reference.digest} is not in the repository`);
    this.name = 'MissingReferenceError';
  }
}

export class StateStore {
  constructor(
    readonly db: Kysely<Database>,
    readonly dialect: Dialect,
  ) {}

  async migrate(): Promise<void> {
    const migrations = migrationsFor(this.dialect);
    const provider: MigrationProvider = {
      getMigrations: async () => migrations as Record<string, Migration>,
    };
    const { error } = await new Migrator({ db: this.db, provider }).migrateToLatest();
    if (error) throw error;
  }

  close(): Promise<void> {
    return this.db.destroy();
  }

  // --- repositories ---

  async repositoryId(name: string): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('repositories')
      .select('id')
      .where('name', '=', name)
      .executeTakeFirst();
    return row?.id;
  }

  async ensureRepository(
    name: string,
    trx: Kysely<Database> | Transaction<Database> = this.db,
  ): Promise<number> {
    // An upsert that also marks the repository touched: GC leaves a repository a push has just
    // started in alone, even while it is still empty (one statement: no window between the two).
    const at = now();
    await trx
      .insertInto('repositories')
      .values({ name, created_at: at, touched_at: at })
      .onConflict((oc) => oc.column('name').doUpdateSet({ touched_at: at }))
      .execute();
    const row = await trx
      .selectFrom('repositories')
      .select('id')
      .where('name', '=', name)
      .executeTakeFirstOrThrow();
    return row.id;
  }

  async listRepositories(limit: number, after?: string): Promise<string[]> {
    let q = this.db.selectFrom('repositories').select('name').orderBy('name').limit(limit);
    if (after !== undefined) q = q.where('name', '>', after);
    return (await q.execute()).map((r) => r.name);
  }

  // --- blobs ---

  async linkBlob(repositoryId: number, digest: string, size: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      // The size of verified content is authoritative (a recorded intent may have guessed it).
      await trx
        .insertInto('blobs')
        .values({ digest, size, created_at: now() })
        .onConflict((oc) => oc.column('digest').doUpdateSet({ size }))
        .execute();
      await trx
        .insertInto('repository_blobs')
        .values({ repository_id: repositoryId, digest, created_at: now() })
        // A re-link (re-push, mount) restarts the grace period garbage collection gives it.
        .onConflict((oc) => oc.columns(['repository_id', 'digest']).doUpdateSet({ created_at: now() }))
        .execute();
    });
  }

  /**
   * Records that a blob's bytes are about to be committed, before any repository links it: a
   * crash between commit and link then leaves a row garbage collection finds, never a stray file.
   */
  async recordBlob(digest: string, size: number): Promise<void> {
    await this.db
      .insertInto('blobs')
      .values({ digest, size, created_at: now() })
      .onConflict((oc) => oc.column('digest').doNothing())
      .execute();
  }

  /** The blob's size when `repositoryId` may serve it. */
  async repositoryBlob(repositoryId: number, digest: string): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('repository_blobs')
      .innerJoin('blobs', 'blobs.digest', 'repository_blobs.digest')
      .select('blobs.size')
      .where('repository_blobs.repository_id', '=', repositoryId)
      .where('repository_blobs.digest', '=', digest)
      .executeTakeFirst();
    return row === undefined ? undefined : Number(row.size);
  }

  /** The blob's size when the repository named `name` may serve it: one query, no id lookup first. */
  async repositoryBlobByName(name: string, digest: string): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('repository_blobs')
      .innerJoin('repositories', 'repositories.id', 'repository_blobs.repository_id')
      .innerJoin('blobs', 'blobs.digest', 'repository_blobs.digest')
      .select('blobs.size')
      .where('repositories.name', '=', name)
      .where('repository_blobs.digest', '=', digest)
      .executeTakeFirst();
    return row === undefined ? undefined : Number(row.size);
  }

  /** The blob's size when any repository links it (automatic cross-repository mounts). */
  async linkedBlobSize(digest: string): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('repository_blobs')
      .innerJoin('blobs', 'blobs.digest', 'repository_blobs.digest')
      .select('blobs.size')
      .where('repository_blobs.digest', '=', digest)
      .limit(1)
      .executeTakeFirst();
    return row === undefined ? undefined : Number(row.size);
  }

  async unlinkBlob(repositoryId: number, digest: string): Promise<boolean> {
    const res = await this.db
      .deleteFrom('repository_blobs')
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  // --- uploads ---

  async createUpload(id: string, repositoryId: number): Promise<void> {
    await this.db
      .insertInto('uploads')
      .values({ id, repository_id: repositoryId, started_at: now() })
      .execute();
  }

  async upload(id: string): Promise<{ repositoryId: number; startedAt: string } | undefined> {
    const row = await this.db.selectFrom('uploads').selectAll().where('id', '=', id).executeTakeFirst();
    return row && { repositoryId: row.repository_id, startedAt: row.started_at };
  }

  async deleteUpload(id: string): Promise<void> {
    await this.db.deleteFrom('uploads').where('id', '=', id).execute();
  }

  // --- manifests and tags ---

  /**
   * Records a manifest, its references and the tags to point at it, in one transaction: readers see
   * all of it or none of it.
   */
  async putManifest(
    repositoryId: number,
    manifest: ManifestRecord,
    references: ManifestReference[],
    tags: string[] = [],
    verifyReferences = true,
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      // Checked again inside the transaction: garbage collection may have unlinked a blob since
      // the caller looked, and a manifest must never be recorded over missing content.
      if (verifyReferences) {
        for (const ref of references) {
          const table = ref.kind === 'blob' ? 'repository_blobs' : 'manifests';
          const row = await trx
            .selectFrom(table)
            .select('digest')
            .where('repository_id', '=', repositoryId)
            .where('digest', '=', ref.digest)
            .executeTakeFirst();
          if (!row) throw new MissingReferenceError(ref);
        }
      }
      await trx
        .insertInto('manifests')
        .values({
          repository_id: repositoryId,
          digest: manifest.digest,
          media_type: manifest.mediaType,
          artifact_type: manifest.artifactType,
          subject_digest: manifest.subjectDigest,
          annotations: manifest.annotations ? JSON.stringify(manifest.annotations) : null,
          size: manifest.size,
          created_at: now(),
        })
        .onConflict((oc) => oc.columns(['repository_id', 'digest']).doNothing())
        .execute();
      for (const ref of references) {
        await trx
          .insertInto('manifest_references')
          .values({
            repository_id: repositoryId,
            manifest_digest: manifest.digest,
            child_digest: ref.digest,
            kind: ref.kind,
          })
          .onConflict((oc) => oc.columns(['repository_id', 'manifest_digest', 'child_digest']).doNothing())
          .execute();
      }
      for (const tag of tags) {
        await trx
          .insertInto('tags')
          .values({
            repository_id: repositoryId,
            name: tag,
            manifest_digest: manifest.digest,
            updated_at: now(),
          })
          .onConflict((oc) =>
            oc
              .columns(['repository_id', 'name'])
              .doUpdateSet({ manifest_digest: manifest.digest, updated_at: now() }),
          )
          .execute();
      }
    });
  }

  async manifest(repositoryId: number, digest: string): Promise<ManifestRecord | undefined> {
    const row = await this.db
      .selectFrom('manifests')
      .selectAll()
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    return row && toRecord(row);
  }

  async resolveTag(repositoryId: number, tag: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('tags')
      .select('manifest_digest')
      .where('repository_id', '=', repositoryId)
      .where('name', '=', tag)
      .executeTakeFirst();
    return row?.manifest_digest;
  }

  async deleteTag(repositoryId: number, tag: string): Promise<boolean> {
    const res = await this.db
      .deleteFrom('tags')
      .where('repository_id', '=', repositoryId)
      .where('name', '=', tag)
      .executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  /** Deletes a manifest with its references and every tag pointing at it. */
  async deleteManifest(repositoryId: number, digest: string): Promise<boolean> {
    return this.db.transaction().execute((trx) => deleteManifestRows(trx, repositoryId, digest));
  }

  async listTags(repositoryId: number, limit: number, after?: string): Promise<string[]> {
    let q = this.db
      .selectFrom('tags')
      .select('name')
      .where('repository_id', '=', repositoryId)
      .orderBy('name')
      .limit(limit);
    if (after !== undefined) q = q.where('name', '>', after);
    return (await q.execute()).map((r) => r.name);
  }

  /** Manifests in the repository whose subject is `digest`, optionally of one artifact type. */
  async referrers(repositoryId: number, digest: string, artifactType?: string): Promise<ManifestRecord[]> {
    let q = this.db
      .selectFrom('manifests')
      .selectAll()
      .where('repository_id', '=', repositoryId)
      .where('subject_digest', '=', digest)
      .orderBy('created_at')
      .orderBy('digest');
    if (artifactType !== undefined) q = q.where('artifact_type', '=', artifactType);
    return (await q.execute()).map(toRecord);
  }
}

function toRecord(row: Database['manifests']): ManifestRecord {
  return {
    digest: row.digest,
    mediaType: row.media_type,
    artifactType: row.artifact_type,
    subjectDigest: row.subject_digest,
    annotations: row.annotations ? (JSON.parse(row.annotations) as Record<string, string>) : null,
    size: Number(row.size),
  };
}
