// Every repository with what a repository list shows: how many tags, the bytes of the blobs linked
// into it (each counted once, however many manifests use it), and when a tag last moved. One
// statement for the whole registry, grouped in the database.
import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.js';

export interface RepositoryDetail {
  name: string;
  tags: number;
  /** Bytes of the blobs linked into the repository: layers, configs and manifests. */
  size: number;
  /** When a tag last moved (ISO 8601); null for a repository with no tags. */
  pushedAt: string | null;
}

export async function repositoryDetails(db: Kysely<Database>): Promise<RepositoryDetail[]> {
  const rows = await db
    .selectFrom('repositories as r')
    .select([
      'r.name as name',
      (eb) =>
        eb
          .selectFrom('tags')
          .select(sql<string>`count(*)`.as('n'))
          .whereRef('tags.repository_id', '=', 'r.id')
          .as('tags'),
      (eb) =>
        eb
          .selectFrom('tags')
          .select(sql<string | null>`max(tags.updated_at)`.as('at'))
          .whereRef('tags.repository_id', '=', 'r.id')
          .as('pushedAt'),
      (eb) =>
        eb
          .selectFrom('repository_blobs')
          .innerJoin('blobs', 'blobs.digest', 'repository_blobs.digest')
          .select(sql<string>`coalesce(sum(blobs.size), 0)`.as('bytes'))
          .whereRef('repository_blobs.repository_id', '=', 'r.id')
          .as('size'),
    ])
    .execute();
  return rows.map((r) => ({
    name: r.name,
    tags: Number(r.tags ?? 0),
    size: Number(r.size ?? 0),
    pushedAt: r.pushedAt ?? null,
  }));
}
