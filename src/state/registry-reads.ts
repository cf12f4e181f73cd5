// The lookups behind the requests a registry serves most (every pod start, every `pull` that finds
// nothing new): a manifest by tag or digest, a blob's size in a repository. Each is one statement,
// compiled once (precompiled.ts). The answers are kept until anything is written (read-cache.ts):
// on SQLite a write here or a commit by another process empties them before the next read; on
// PostgreSQL a commit by any node does, announced by a trigger and seen after one shared round trip
// (pg-generation.ts). Either way a push or a delete acknowledged by any node is seen by the next
// request here.
import type { Kysely } from 'kysely';
import type { Generation } from './generation.js';
import { toRecord, type ManifestRecord } from './manifest-record.js';
import { Precompiled } from './precompiled.js';
import { ReadCache } from './read-cache.js';
import type { Database } from './schema.js';

export class RegistryReads {
  private readonly byTag: Precompiled<{ name: string; tag: string }, Database['manifests']>;
  private readonly byDigest: Precompiled<{ name: string; digest: string }, Database['manifests']>;
  private readonly blobSize: Precompiled<{ name: string; digest: string }, { size: number }>;

  private readonly manifests: ReadCache<ManifestRecord | undefined>;
  private readonly sizes: ReadCache<number | undefined>;

  constructor(db: Kysely<Database>, generation?: Generation) {
    this.manifests = new ReadCache(generation);
    this.sizes = new ReadCache(generation);
    const untyped = db as Kysely<unknown>;
    this.byTag = new Precompiled(untyped, (slot) =>
      db
        .selectFrom('repositories')
        .innerJoin('tags', 'tags.repository_id', 'repositories.id')
        .innerJoin('manifests', (j) =>
          j
            .onRef('manifests.repository_id', '=', 'repositories.id')
            .onRef('manifests.digest', '=', 'tags.manifest_digest'),
        )
        .selectAll('manifests')
        .where('repositories.name', '=', slot('name'))
        .where('tags.name', '=', slot('tag')),
    );
    this.byDigest = new Precompiled(untyped, (slot) =>
      db
        .selectFrom('repositories')
        .innerJoin('manifests', 'manifests.repository_id', 'repositories.id')
        .selectAll('manifests')
        .where('repositories.name', '=', slot('name'))
        .where('manifests.digest', '=', slot('digest')),
    );
    this.blobSize = new Precompiled(untyped, (slot) =>
      db
        .selectFrom('repository_blobs')
        .innerJoin('repositories', 'repositories.id', 'repository_blobs.repository_id')
        .innerJoin('blobs', 'blobs.digest', 'repository_blobs.digest')
        .select('blobs.size')
        .where('repositories.name', '=', slot('name'))
        .where('repository_blobs.digest', '=', slot('digest')),
    );
  }

  /** The manifest `tag` names in repository `name`, if both exist. */
  manifestByTag(name: string, tag: string): Promise<ManifestRecord | undefined> {
    return this.manifests.get(`t\0${name}\0${tag}`, async () => {
      const row = await this.byTag.first({ name, tag });
      return row && toRecord(row);
    });
  }

  /** The manifest `digest` of repository `name`, if the repository holds it. */
  manifestByDigest(name: string, digest: string): Promise<ManifestRecord | undefined> {
    return this.manifests.get(`d\0${name}\0${digest}`, async () => {
      const row = await this.byDigest.first({ name, digest });
      return row && toRecord(row);
    });
  }

  /** The size of blob `digest` when repository `name` links it. */
  blobSizeInRepository(name: string, digest: string): Promise<number | undefined> {
    return this.sizes.get(`${name}\0${digest}`, async () => {
      const row = await this.blobSize.first({ name, digest });
      return row === undefined ? undefined : Number(row.size);
    });
  }
}
