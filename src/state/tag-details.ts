// Every tag of one repository (or one tag, or the tags of one manifest) with what a tag list
// shows: the manifest it points at, when it was pushed (last moved) and last pulled, the bytes it
// pulls, the manifests it indexes, and the referrers (signatures, SBOMs, attestations) attached
// to it by type. Four statements whatever the tag count: tags with their manifests and pull
// times, index children, blob bytes per manifest, referrer counts. With a selection, each reads
// only the rows of the manifests selected.
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

export interface TagDetail {
  name: string;
  digest: string;
  mediaType: string;
  artifactType: string | null;
  /** When the tag last moved (a push or a re-tag), ISO 8601. */
  pushedAt: string;
  /** When its manifest was last pulled (a GET of its bytes, by tag or digest); null: never. */
  pulledAt: string | null;
  /** The manifest's own bytes. */
  manifestSize: number;
  /**
   * What a pull of this tag downloads for one image: its config and layers. For an index, the sum
   * over the manifests it lists (every platform), each child's config and layers.
   */
  size: number;
  /** For an index: the manifests it lists (by digest), each with its own `size`. */
  children?: { digest: string; size: number }[];
  /** Referrers whose subject is this manifest, counted by artifact type (null: none given). */
  referrers: { artifactType: string | null; count: number }[];
}

/** One tag by name, or the tags pointing at one manifest. */
export type TagSelection = { tag: string } | { digest: string };

export async function tagDetails(
  db: Kysely<Database>,
  repositoryId: number,
  only?: TagSelection,
): Promise<TagDetail[]> {
  let tags = db
    .selectFrom('tags')
    .innerJoin('manifests', (j) =>
      j
        .onRef('manifests.repository_id', '=', 'tags.repository_id')
        .onRef('manifests.digest', '=', 'tags.manifest_digest'),
    )
    .leftJoin('manifest_pulls', (j) =>
      j
        .onRef('manifest_pulls.repository_id', '=', 'tags.repository_id')
        .onRef('manifest_pulls.digest', '=', 'tags.manifest_digest'),
    )
    .select([
      'tags.name as name',
      'tags.updated_at as pushedAt',
      'manifest_pulls.pulled_at as pulledAt',
      'manifests.digest as digest',
      'manifests.media_type as mediaType',
      'manifests.artifact_type as artifactType',
      'manifests.size as manifestSize',
    ])
    .where('tags.repository_id', '=', repositoryId);
  if (only && 'tag' in only) tags = tags.where('tags.name', '=', only.tag);
  if (only && 'digest' in only) tags = tags.where('tags.manifest_digest', '=', only.digest);
  const tagged = await tags.execute();
  if (tagged.length === 0) return [];
  // With a selection, the later statements read the selected manifests' rows only.
  const subjects = only ? [...new Set(tagged.map((t) => t.digest))] : undefined;

  const children = new Map<string, string[]>();
  let childRows = db
    .selectFrom('manifest_references')
    .select(['manifest_digest as digest', 'child_digest as child'])
    .where('repository_id', '=', repositoryId)
    .where('kind', '=', 'manifest');
  if (subjects) childRows = childRows.where('manifest_digest', 'in', subjects);
  // In one order on every backend (the index's own order is in its bytes, not in these rows).
  for (const r of await childRows.orderBy('child_digest').execute()) {
    const kids = children.get(r.digest);
    if (kids) kids.push(r.child);
    else children.set(r.digest, [r.child]);
  }

  const blobBytes = new Map<string, number>();
  let bytes = db
    .selectFrom('manifest_references')
    .innerJoin('blobs', 'blobs.digest', 'manifest_references.child_digest')
    .select([
      'manifest_references.manifest_digest as digest',
      (eb) => eb.fn.sum<string>('blobs.size').as('bytes'),
    ])
    .where('manifest_references.repository_id', '=', repositoryId)
    .where('manifest_references.kind', '=', 'blob');
  if (subjects)
    bytes = bytes.where('manifest_references.manifest_digest', 'in', [
      ...subjects,
      ...subjects.flatMap((d) => children.get(d) ?? []),
    ]);
  for (const r of await bytes.groupBy('manifest_references.manifest_digest').execute())
    blobBytes.set(r.digest, Number(r.bytes));

  const referrers = new Map<string, TagDetail['referrers']>();
  let attached = db
    .selectFrom('manifests')
    .select([
      'subject_digest as subject',
      'artifact_type as artifactType',
      (eb) => eb.fn.countAll<string>().as('count'),
    ])
    .where('repository_id', '=', repositoryId)
    .where('subject_digest', 'is not', null);
  if (subjects) attached = attached.where('subject_digest', 'in', subjects);
  for (const r of await attached.groupBy(['subject_digest', 'artifact_type']).execute()) {
    const list = referrers.get(r.subject as string) ?? [];
    list.push({ artifactType: r.artifactType, count: Number(r.count) });
    referrers.set(r.subject as string, list);
  }

  return tagged.map((t) => {
    const kids = children.get(t.digest);
    const detail: TagDetail = {
      name: t.name,
      digest: t.digest,
      mediaType: t.mediaType,
      artifactType: t.artifactType,
      pushedAt: t.pushedAt,
      pulledAt: t.pulledAt,
      manifestSize: Number(t.manifestSize),
      size: kids
        ? kids.reduce((n, child) => n + (blobBytes.get(child) ?? 0), 0)
        : (blobBytes.get(t.digest) ?? 0),
      referrers: (referrers.get(t.digest) ?? []).sort((a, b) =>
        String(a.artifactType).localeCompare(String(b.artifactType)),
      ),
    };
    if (kids) detail.children = kids.map((digest) => ({ digest, size: blobBytes.get(digest) ?? 0 }));
    return detail;
  });
}
