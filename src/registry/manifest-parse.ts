// Validates a pushed manifest body and extracts what the registry records about it: its media
// type, the blobs and manifests it references, its subject and artifact type. The bytes are
// never re-serialised; only the digest of the exact body counts.
import { OciError } from './errors.js';
import { baseMediaType, IMAGE_MANIFEST_TYPES, INDEX_TYPES, isManifestType, MT } from './media-types.js';
import { parseDigest } from './names.js';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
}

export interface ParsedManifest {
  mediaType: string;
  /** config and layers of an image manifest */
  blobs: Descriptor[];
  /** children of an index */
  manifests: Descriptor[];
  subject: Descriptor | undefined;
  artifactType: string | null;
  annotations: Record<string, string> | null;
}

const invalid = (message: string, detail?: unknown) => new OciError('MANIFEST_INVALID', message, detail);

function descriptor(value: unknown, where: string): Descriptor {
  if (!value || typeof value !== 'object' || Array.isArray(value))
    throw invalid(`${where} must be a descriptor object`);
  const d = value as Record<string, unknown>;
  if (typeof d.mediaType !== 'string' || d.mediaType === '')
    throw invalid(`${where}.mediaType must be a string`);
  if (typeof d.digest !== 'string') throw invalid(`${where}.digest must be a string`);
  try {
    parseDigest(d.digest);
  } catch {
    throw invalid(`${where}.digest ${JSON.stringify(d.digest)} is not a valid digest`);
  }
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw invalid(`${where}.size must be a non-negative integer`);
  }
  const urls = Array.isArray(d.urls) ? (d.urls.filter((u) => typeof u === 'string') as string[]) : undefined;
  return { mediaType: d.mediaType, digest: d.digest, size: d.size, ...(urls ? { urls } : {}) };
}

function annotations(value: unknown): Record<string, string> | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value))
    throw invalid('annotations must be an object of strings');
  for (const v of Object.values(value))
    if (typeof v !== 'string') throw invalid('annotation values must be strings');
  return value as Record<string, string>;
}

export function parseManifest(body: Buffer, contentType: string | undefined): ParsedManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw invalid(`manifest is not valid JSON: ${(err as Error).message}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw invalid('manifest must be a JSON object');
  const m = doc as Record<string, unknown>;
  if (m.schemaVersion !== 2) throw invalid('schemaVersion must be 2');

  const header = baseMediaType(contentType);
  const field = typeof m.mediaType === 'string' ? m.mediaType : undefined;
  if (m.mediaType !== undefined && field === undefined) throw invalid('mediaType must be a string');
  if (header && field && header !== field) {
    throw invalid(`Content-Type ${header} contradicts the manifest's mediaType ${field}`);
  }
  // Without either, an OCI manifest is recognised by its shape (mediaType is optional in OCI).
  const mediaType = header ?? field ?? (Array.isArray(m.manifests) ? MT.ociIndex : MT.ociManifest);
  if (!isManifestType(mediaType)) {
    throw invalid(`unsupported manifest media type ${mediaType}`, {
      supported: [MT.ociManifest, MT.ociIndex, MT.dockerManifest, MT.dockerList],
    });
  }
  if (m.artifactType !== undefined && typeof m.artifactType !== 'string')
    throw invalid('artifactType must be a string');
  const subject = m.subject === undefined ? undefined : descriptor(m.subject, 'subject');

  if (IMAGE_MANIFEST_TYPES.has(mediaType)) {
    if (Array.isArray(m.manifests)) throw invalid(`an image manifest (${mediaType}) cannot list manifests`);
    const config = descriptor(m.config, 'config');
    if (!Array.isArray(m.layers)) throw invalid('layers must be an array');
    const layers = m.layers.map((l, i) => descriptor(l, `layers[${i}]`));
    return {
      mediaType,
      blobs: [config, ...layers],
      manifests: [],
      subject,
      // The referrers API reports the config media type when a manifest has no artifactType.
      artifactType: (m.artifactType as string | undefined) ?? config.mediaType,
      annotations: annotations(m.annotations),
    };
  }
  if (INDEX_TYPES.has(mediaType)) {
    if (!Array.isArray(m.manifests)) throw invalid('manifests must be an array');
    if (m.layers !== undefined || m.config !== undefined)
      throw invalid(`an index (${mediaType}) cannot have config or layers`);
    const entries = m.manifests.map((d, i) => descriptor(d, `manifests[${i}]`));
    // An entry whose media type is not a manifest's points at a blob: BuildKit's registry cache
    // (an index of layers and a cache config) is the common case. Such entries are checked and
    // kept as blobs, as other registries accept them.
    return {
      mediaType,
      blobs: entries.filter((d) => !isManifestType(d.mediaType)),
      manifests: entries.filter((d) => isManifestType(d.mediaType)),
      subject,
      artifactType: (m.artifactType as string | undefined) ?? null,
      annotations: annotations(m.annotations),
    };
  }
  throw invalid(`unsupported manifest media type ${mediaType}`);
}
