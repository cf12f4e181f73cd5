// The manifest media types the registry understands, and what each one references.
export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

/** Manifests that point at a config and layers (blobs). */
export const IMAGE_MANIFEST_TYPES = new Set<string>([MT.ociManifest, MT.dockerManifest]);
/** Manifests that point at other manifests. */
export const INDEX_TYPES = new Set<string>([MT.ociIndex, MT.dockerList]);

export function isManifestType(mediaType: string): boolean {
  return IMAGE_MANIFEST_TYPES.has(mediaType) || INDEX_TYPES.has(mediaType);
}

/** Strips parameters ("; charset=utf-8") and case from a Content-Type value. */
export function baseMediaType(contentType: string | undefined): string | undefined {
  const base = contentType?.split(';')[0]?.trim().toLowerCase();
  return base ? base : undefined;
}
