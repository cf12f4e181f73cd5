// Table types for the state store (kysely). One schema for SQLite and PostgreSQL.
import type { Generated } from 'kysely';

export interface RepositoriesTable {
  id: Generated<number>;
  name: string;
  created_at: string;
}

/** A blob as content: one row per digest, whatever repositories link it. */
export interface BlobsTable {
  digest: string;
  size: number;
  created_at: string;
}

/** Which repository may serve which blob (pushed there or mounted into it). */
export interface RepositoryBlobsTable {
  repository_id: number;
  digest: string;
  created_at: string;
}

export interface ManifestsTable {
  repository_id: number;
  digest: string;
  media_type: string;
  artifact_type: string | null;
  subject_digest: string | null;
  /** JSON of the manifest's annotations, for the referrers list. */
  annotations: string | null;
  size: number;
  created_at: string;
}

/** Edges from a manifest to what it references: layers and config ("blob") or children ("manifest"). */
export interface ManifestReferencesTable {
  repository_id: number;
  manifest_digest: string;
  child_digest: string;
  kind: 'blob' | 'manifest';
}

export interface TagsTable {
  repository_id: number;
  name: string;
  manifest_digest: string;
  updated_at: string;
}

export interface UploadsTable {
  id: string;
  repository_id: number;
  started_at: string;
}

export interface Database {
  repositories: RepositoriesTable;
  blobs: BlobsTable;
  repository_blobs: RepositoryBlobsTable;
  manifests: ManifestsTable;
  manifest_references: ManifestReferencesTable;
  tags: TagsTable;
  uploads: UploadsTable;
}
