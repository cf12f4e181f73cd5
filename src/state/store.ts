// The StateStore: repositories, blob links, manifests and their references, tags, upload
// sessions. Listing, tag lookups, referrers and garbage collection read this, never the
// filesystem. One query layer (kysely) over SQLite or PostgreSQL.
import { randomBytes } from 'node:crypto';
import { Kysely, Migrator, sql, type Migration, type MigrationProvider, type Transaction } from 'kysely';
import {
  allTagStates,
  deleteManifestRows,
  lockAgainstCollection,
  lockQuota,
  namespaceBytes,
} from './gc-queries.js';
import type { Generation } from './generation.js';
import { migrationsFor, type Dialect } from './migrations.js';
import { toRecord, type ManifestRecord } from './manifest-record.js';
import { RegistryReads } from './registry-reads.js';
import type { Database } from './schema.js';
import { repositoryDetails, type RepositoryDetail } from './repository-details.js';
import { tagDetails, type TagDetail, type TagSelection } from './tag-details.js';
import { recordPulls, type Pull } from './manifest-pulls.js';
import { policyRows, replacePolicyRows, type PolicyRow } from './policy-rows.js';

export type { ManifestRecord } from './manifest-record.js';
export type { TagDetail, TagSelection } from './tag-details.js';
export type { Pull } from './manifest-pulls.js';
export type { PolicyRow } from './policy-rows.js';
export type { RepositoryDetail } from './repository-details.js';

export interface ManifestReference {
  digest: string;
  kind: 'blob' | 'manifest';
}

const now = () => new Date().toISOString();

/** A quota a link must stay within: its repositories (by id) and their byte limit. */
export interface QuotaCheck {
  /** The quota's pattern: names its lock and the error. */
  key: string;
  repositoryIds: number[];
  bytes: number;
}

/** Linking a blob would take a namespace past its quota (nothing was linked). */
export class QuotaExceededError extends Error {
  constructor(
    readonly quota: QuotaCheck,
    readonly used: number,
    readonly adding: number,
  ) {
    super(`the quota of ${quota.key} (${quota.bytes} bytes) holds ${used}; ${adding} more would pass it`);
    this.name = 'QuotaExceededError';
  }
}

/** A push would move a tag a policy keeps where it is (the transaction wrote nothing). */
export class FixedTagError extends Error {
  constructor(
    readonly tag: string,
    readonly digest: string,
  ) {
    super(`tag ${tag} already points at ${digest}`);
    this.name = 'FixedTagError';
  }
}

export class MissingReferenceError extends Error {
  constructor(readonly reference: ManifestReference) {
    super(`${reference.kind} ${reference.digest} is not in the repository`);
    this.name = 'MissingReferenceError';
  }
}

/**
 * Whether `err` is a unique or primary-key violation, from either backend: SQLite's
 * SQLITE_CONSTRAINT_UNIQUE / _PRIMARYKEY (better-sqlite3 puts the extended code in `code`) or
 * PostgreSQL's SQLSTATE 23505 (pg puts it in `code`).
 */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/**
 * Text as both backends store it: PostgreSQL refuses the NUL character in text, SQLite takes it.
 * For text that comes from outside (build output, a webhook receiver's answer), NUL becomes
 * U+FFFD, as an undecodable byte does, on both.
 */
export const withoutNul = (text: string): string => text.replaceAll('\u0000', '\uFFFD');

/** How long a SQLite lock row stays valid without renewal (a crashed holder frees it then). */
const LOCK_LEASE_MS = 5 * 60_000;

export class StateStore {
  /** Names this store holds a lock on (SQLite: one process's share of the locks table). */
  private readonly held = new Set<string>();
  /** This store's name in the locks table: unique per open, so two processes never agree on it. */
  private readonly lockOwner = `${process.pid}-${randomBytes(8).toString('hex')}`;

  constructor(
    readonly db: Kysely<Database>,
    readonly dialect: Dialect,
    /** Moves on every write by anyone; read caches key on it. */
    readonly generation?: Generation,
  ) {
    this.reads = new RegistryReads(db, generation);
  }

  /** The registry's most frequent lookups, each compiled once, answered from memory until a write. */
  readonly reads: RegistryReads;

  async migrate(): Promise<void> {
    const migrations = migrationsFor(this.dialect);
    const provider: MigrationProvider = {
      getMigrations: async () => migrations as Record<string, Migration>,
    };
    const { error } = await new Migrator({ db: this.db, provider }).migrateToLatest();
    if (error) throw error;
  }

  async close(): Promise<void> {
    await this.generation?.close?.();
    await this.db.destroy();
  }

  // --- coordination ---

  /**
   * Runs `fn` while holding the lock `name`, shared with every process using this database (other
   * registry nodes, a CLI run); resolves to undefined without running `fn` when someone else holds
   * it. Never waits: work like garbage collection is simply skipped by everyone but one.
   *
   * PostgreSQL: a session-level `pg_try_advisory_lock(hashtext(name))` on one connection reserved
   * for the duration (a node that dies frees it with its connection). SQLite: a row in `locks`
   * with this store as owner and an expiry renewed while `fn` runs (a process that dies frees it
   * when the expiry passes), plus a set of held names, since the row alone cannot tell two calls
   * of this one process apart.
   */
  async withExclusiveLock<T>(name: string, fn: () => Promise<T>): Promise<T | undefined> {
    if (this.dialect === 'postgres') {
      return this.db.connection().execute(async (conn) => {
        const { rows } = await sql<{
          locked: boolean;
        }>`select pg_try_advisory_lock(hashtext(${name})) as locked`.execute(conn);
        if (rows[0]?.locked !== true) return undefined;
        try {
          return await fn();
        } finally {
          await sql`select pg_advisory_unlock(hashtext(${name}))`.execute(conn);
        }
      });
    }
    if (this.held.has(name)) return undefined;
    this.held.add(name);
    try {
      if (!(await this.takeLockRow(name))) return undefined;
      const renew = setInterval(() => {
        this.db
          .updateTable('locks')
          .set({ expires_at: new Date(Date.now() + LOCK_LEASE_MS).toISOString() })
          .where('name', '=', name)
          .where('owner', '=', this.lockOwner)
          .execute()
          .catch(() => {}); // the next renewal tries again; the lease outlasts several misses
      }, LOCK_LEASE_MS / 5);
      renew.unref();
      try {
        return await fn();
      } finally {
        clearInterval(renew);
        await this.db
          .deleteFrom('locks')
          .where('name', '=', name)
          .where('owner', '=', this.lockOwner)
          .execute();
      }
    } finally {
      this.held.delete(name);
    }
  }

  /** SQLite: makes this store the owner of the lock row `name` if nobody holds it unexpired. */
  private async takeLockRow(name: string): Promise<boolean> {
    const at = now();
    const row = {
      name,
      owner: this.lockOwner,
      acquired_at: at,
      expires_at: new Date(Date.now() + LOCK_LEASE_MS).toISOString(),
    };
    // One statement: a free name is inserted, an expired holder's row taken over, a live one kept.
    await this.db
      .insertInto('locks')
      .values(row)
      .onConflict((oc) =>
        oc
          .column('name')
          .doUpdateSet({ owner: row.owner, acquired_at: row.acquired_at, expires_at: row.expires_at })
          .where('locks.expires_at', '<', at),
      )
      .execute();
    const holder = await this.db
      .selectFrom('locks')
      .select('owner')
      .where('name', '=', name)
      .executeTakeFirst();
    return holder?.owner === this.lockOwner;
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

  async linkBlob(
    repositoryId: number,
    digest: string,
    size: number,
    quotas: QuotaCheck[] = [],
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await lockAgainstCollection(trx, 'shared');
      // Each quota counted under its own lock, in one order (no two links wait on each other).
      for (const q of [...quotas].sort((a, b) => (a.key < b.key ? -1 : 1))) {
        await lockQuota(trx, q.key);
        const ids = [...new Set([...q.repositoryIds, repositoryId])];
        const held = await trx
          .selectFrom('repository_blobs')
          .select('digest')
          .where('repository_id', 'in', ids)
          .where('digest', '=', digest)
          .executeTakeFirst();
        if (held) continue; // already counted in this namespace
        const used = await namespaceBytes(trx, ids);
        if (used + size > q.bytes) throw new QuotaExceededError(q, used, size);
      }
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
    return this.reads.blobSizeInRepository(name, digest);
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

  /** Records an upload session; `openedBy` ("user:<name>", "address:<ip>") is who counts it. */
  async createUpload(id: string, repositoryId: number, openedBy: string | null = null): Promise<void> {
    await this.db
      .insertInto('uploads')
      .values({ id, repository_id: repositoryId, started_at: now(), opened_by: openedBy })
      .execute();
  }

  /**
   * Upload sessions started after `since` (older ones have expired) in the repository and by the
   * opener: one round trip, each count on its own index.
   */
  async openUploads(
    repositoryId: number,
    openedBy: string,
    since: string,
    db: Kysely<Database> | Transaction<Database> = this.db,
  ): Promise<{ repository: number; opener: number }> {
    const row = await db
      .selectNoFrom((eb) => [
        eb
          .selectFrom('uploads')
          .select((e) => e.fn.countAll<number | string>().as('n'))
          .where('repository_id', '=', repositoryId)
          .where('started_at', '>', since)
          .as('repository'),
        eb
          .selectFrom('uploads')
          .select((e) => e.fn.countAll<number | string>().as('n'))
          .where('opened_by', '=', openedBy)
          .where('started_at', '>', since)
          .as('opener'),
      ])
      .executeTakeFirstOrThrow();
    return { repository: Number(row.repository ?? 0), opener: Number(row.opener ?? 0) };
  }

  /**
   * Records an upload session unless the repository or the opener already has as many open as
   * `limits` allow (0: no limit); when refused, `open` says how many were counted. Counting and
   * recording are one statement (an INSERT … SELECT … WHERE count < limit): SQLite takes its
   * write lock before the statement reads, so writers on any connection count one after another;
   * on PostgreSQL, where concurrent statements do not see each other's new rows, a transaction
   * first takes advisory locks on the repository and the opener (in one order, so two never wait
   * for each other). Parallel requests on any node never pass a limit together.
   */
  async createUploadWithin(
    id: string,
    repositoryId: number,
    openedBy: string,
    limits: { perRepository: number; perOpener: number; since: string },
  ): Promise<{ created: true } | { created: false; open: { repository: number; opener: number } }> {
    const record = async (db: Kysely<Database> | Transaction<Database>) => {
      const res = await db
        .insertInto('uploads')
        .columns(['id', 'repository_id', 'started_at', 'opened_by'])
        .expression(({ selectFrom, val }) => {
          const open = (column: 'repository_id' | 'opened_by', value: number | string) =>
            selectFrom('uploads')
              .select((e) => e.fn.countAll().as('n'))
              .where(column, '=', value)
              .where('started_at', '>', limits.since);
          let q = db.selectNoFrom([
            val(id).as('id'),
            sql<number>`cast(${repositoryId} as integer)`.as('repository_id'),
            val(now()).as('started_at'),
            val(openedBy).as('opened_by'),
          ]);
          if (limits.perRepository > 0)
            q = q.where(open('repository_id', repositoryId), '<', limits.perRepository);
          if (limits.perOpener > 0) q = q.where(open('opened_by', openedBy), '<', limits.perOpener);
          return q;
        })
        .executeTakeFirst();
      return Number(res.numInsertedOrUpdatedRows ?? 0) === 1;
    };
    const created =
      this.dialect === 'postgres'
        ? await this.db.transaction().execute(async (trx) => {
            const [first, second] = [
              `uploads:repository:${repositoryId}`,
              `uploads:opener:${openedBy}`,
            ].sort();
            const lock = (key: string | undefined) => sql`pg_advisory_xact_lock(hashtext(${key}))`;
            await sql`select ${lock(first)}, ${lock(second)}`.execute(trx);
            return record(trx);
          })
        : await record(this.db);
    if (created) return { created: true };
    return { created: false, open: await this.openUploads(repositoryId, openedBy, limits.since) };
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
    /** Tags that may be created but never moved (immutable by policy): FixedTagError if they exist elsewhere. */
    fixedTags: ReadonlySet<string> = new Set(),
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      // Checked again inside the transaction: garbage collection may have unlinked a blob since
      // the caller looked, and a manifest must never be recorded over missing content. The lock
      // (PostgreSQL) keeps a collection from unlinking it between this check and the commit.
      await lockAgainstCollection(trx, 'shared');
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
      // In one order whatever the caller's: two pushes tagging the same names in opposite orders
      // would otherwise each wait for the other's row lock on PostgreSQL (a deadlock).
      for (const tag of [...new Set(tags)].sort()) {
        const fixed = fixedTags.has(tag);
        await trx
          .insertInto('tags')
          .values({
            repository_id: repositoryId,
            name: tag,
            manifest_digest: manifest.digest,
            updated_at: now(),
          })
          .onConflict((oc) =>
            fixed
              ? oc.columns(['repository_id', 'name']).doNothing()
              : oc
                  .columns(['repository_id', 'name'])
                  .doUpdateSet({ manifest_digest: manifest.digest, updated_at: now() }),
          )
          .execute();
        if (!fixed) continue;
        // Read after the insert: a concurrent first push of the same tag has committed by now
        // (PostgreSQL waits on the unique index), so exactly one push creates it.
        const held = await trx
          .selectFrom('tags')
          .select('manifest_digest')
          .where('repository_id', '=', repositoryId)
          .where('name', '=', tag)
          .executeTakeFirst();
        if (held && held.manifest_digest !== manifest.digest)
          throw new FixedTagError(tag, held.manifest_digest);
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

  /** Every repository's id and name (quotas match their patterns against the names). */
  repositoryIds(): Promise<{ id: number; name: string }[]> {
    return this.db.selectFrom('repositories').select(['id', 'name']).execute();
  }

  /** The bytes of the distinct blobs the repositories link. */
  namespaceBytes(repositoryIds: number[]): Promise<number> {
    return namespaceBytes(this.db, repositoryIds);
  }

  /** Every tag with its repository, manifest, push time and last pull (retention previews). */
  tagStates(): ReturnType<typeof allTagStates> {
    return allTagStates(this.db);
  }

  /** Every tag of every repository, by repository and name (policy previews). */
  async allTags(): Promise<{ repository: string; tag: string }[]> {
    return this.db
      .selectFrom('tags')
      .innerJoin('repositories', 'repositories.id', 'tags.repository_id')
      .select(['repositories.name as repository', 'tags.name as tag'])
      .orderBy('repositories.name')
      .orderBy('tags.name')
      .execute();
  }

  /** The tags pointing at the manifest `digest`. */
  async tagsOn(repositoryId: number, digest: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('tags')
      .select('name')
      .where('repository_id', '=', repositoryId)
      .where('manifest_digest', '=', digest)
      .orderBy('name')
      .execute();
    return rows.map((r) => r.name);
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

  /** Every repository with its tag count, bytes and last push (repository lists). */
  repositoryDetails(): Promise<RepositoryDetail[]> {
    return repositoryDetails(this.db);
  }

  /**
   * The repository's tags (every one, or those `only` selects) with their manifest, push and
   * pull times, bytes and referrers (tag lists).
   */
  tagDetails(repositoryId: number, only?: TagSelection): Promise<TagDetail[]> {
    return tagDetails(this.db, repositoryId, only);
  }

  /** The policy rules of one kind, by repository pattern. */
  policies(kind: string): Promise<PolicyRow[]> {
    return policyRows(this.db, kind);
  }

  /** Makes the rules of one kind exactly `rows` (one transaction). */
  replacePolicies(kind: string, rows: PolicyRow[]): Promise<void> {
    return replacePolicyRows(this.db, kind, rows);
  }

  /** Records when manifests were last pulled (a batch kept in memory by the registry). */
  recordPulls(pulls: Pull[]): Promise<void> {
    return recordPulls(this.db, pulls);
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
