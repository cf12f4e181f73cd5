// Reading the registry (/v2/) the way a client does: the catalog, a repository's tags, a
// manifest by tag or digest (its media type from Content-Type, its digest from
// Docker-Content-Digest) and an image's config blob.
import { getJson, request } from './client';

export const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];
export const INDEX_TYPES = MANIFEST_TYPES.filter((t) => /index|list/.test(t));

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: { os: string; architecture: string; variant?: string };
}

export interface Manifest {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageConfig {
  architecture?: string;
  os?: string;
  created?: string;
  config?: {
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    WorkingDir?: string;
    User?: string;
    Labels?: Record<string, string> | null;
    ExposedPorts?: Record<string, unknown>;
  };
}

const path = (name: string) => name.split('/').map(encodeURIComponent).join('/');

export async function catalog(): Promise<string[]> {
  return (await getJson<{ repositories: string[] }>('/v2/_catalog?n=1000')).repositories ?? [];
}

export async function tags(name: string): Promise<string[]> {
  return (await getJson<{ tags: string[] | null }>(`/v2/${path(name)}/tags/list`)).tags ?? [];
}

export async function manifest(name: string, reference: string): Promise<Manifest> {
  const res = await request(`/v2/${path(name)}/manifests/${encodeURIComponent(reference)}`, {
    // Someone looking at a manifest is not a pull: the server records no pull time for this read.
    headers: { accept: MANIFEST_TYPES.join(', '), 'opencloud-view': '1' },
  });
  const text = await res.text();
  const body = JSON.parse(text) as Omit<Manifest, 'digest' | 'size'>;
  const type = res.headers.get('content-type')?.split(';')[0]?.trim();
  return {
    ...body,
    mediaType: body.mediaType ?? type ?? 'unknown',
    digest: res.headers.get('docker-content-digest') ?? '',
    size: new TextEncoder().encode(text).length,
  };
}

export async function imageConfig(name: string, digest: string): Promise<ImageConfig> {
  return getJson<ImageConfig>(`/v2/${path(name)}/blobs/${encodeURIComponent(digest)}`);
}

/**
 * DELETE /v2/<name>/manifests/<reference>: a tag removes only that tag; a digest removes the
 * manifest and every tag pointing at it.
 */
export async function deleteManifest(name: string, reference: string): Promise<void> {
  await request(`/v2/${path(name)}/manifests/${encodeURIComponent(reference)}`, { method: 'DELETE' });
}

/** An image manifest's bytes on disk: its config and layers (not the manifest itself). */
export const imageSize = (m: Manifest): number | undefined =>
  m.layers ? m.layers.reduce((n, l) => n + l.size, m.config?.size ?? 0) : undefined;

/**
 * GET /v2/<name>/referrers/<digest>: the manifests whose subject is `digest` (signatures,
 * SBOMs, attestations), as the descriptors of an image index.
 */
export async function referrers(name: string, digest: string): Promise<Descriptor[]> {
  const index = await getJson<{ manifests?: Descriptor[] }>(
    `/v2/${path(name)}/referrers/${encodeURIComponent(digest)}`,
    { accept: 'application/vnd.oci.image.index.v1+json' },
  );
  return index.manifests ?? [];
}

/** One row of GET /api/v1/registry/tags. */
export interface TagRow {
  name: string;
  digest: string;
  mediaType: string;
  artifactType: string | null;
  pushedAt: string;
  /** When its manifest was last pulled; null: never. */
  pulledAt: string | null;
  /** Config and layers; an index: the sum of its platforms'. */
  size: number;
  platforms?: { os: string; architecture: string; variant?: string; digest: string; size: number }[];
  referrers: { artifactType: string | null; count: number }[];
}
export type TagOrder = 'newest' | 'version' | 'name';
export interface TagPage {
  total: number;
  /** What the caller may do in the repository. */
  actions: string[];
  offset: number;
  tags: TagRow[];
}

/** A page of a repository's tags, sorted and filtered by the server: one request. */
export function tagPage(
  name: string,
  o: { sort: TagOrder; filter: string; offset: number; limit: number },
): Promise<TagPage> {
  const q = new URLSearchParams({
    repository: name,
    sort: o.sort,
    limit: String(o.limit),
    offset: String(o.offset),
    ...(o.filter ? { filter: o.filter } : {}),
  });
  return getJson<TagPage>(`/api/v1/registry/tags?${q.toString()}`);
}

/**
 * The tag a manifest page shows (a tag name), or the tags pointing at it (a digest), with what
 * the caller may do in the repository: one request that reads only those tags.
 */
export function tagsOf(name: string, reference: string): Promise<TagPage> {
  const q = new URLSearchParams({ repository: name, limit: '100' });
  q.set(reference.includes(':') ? 'digest' : 'tag', reference);
  return getJson<TagPage>(`/api/v1/registry/tags?${q.toString()}`);
}

export type RepositoryOrder = 'name' | 'size' | 'pushed';
export interface RepositoryPage {
  total: number;
  offset: number;
  repositories: { name: string; tags: number; size: number; pushedAt: string | null }[];
}

/** A page of the repositories the caller may pull, sorted and filtered by the server. */
export function repositoryPage(o: {
  sort: RepositoryOrder;
  filter: string;
  offset: number;
  limit: number;
}): Promise<RepositoryPage> {
  const q = new URLSearchParams({ sort: o.sort, limit: String(o.limit), offset: String(o.offset) });
  if (o.filter) q.set('filter', o.filter);
  return getJson<RepositoryPage>(`/api/v1/registry/repositories?${q.toString()}`);
}
