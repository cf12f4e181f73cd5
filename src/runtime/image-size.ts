// The real size of a containerd image: config + layers of each platform manifest, never the
// manifest's (or index's) own size. Works over a blob reader, so it is unit-tested with JSON;
// facts about a manifest are cached by digest (content is immutable).

export interface PlatformSpec {
  os?: string;
  architecture?: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: PlatformSpec;
  annotations?: Record<string, string>;
}

/** A blob's bytes, or null when the content store does not hold it. */
export type BlobReader = (digest: string) => Promise<Buffer | null>;

export interface PlatformSize {
  platform: string;
  /** The platform manifest's digest. */
  digest: string;
  /** Config + layers; null when the manifest is not in the content store. */
  size: number | null;
  /** The image config's `created`, when the config was readable. */
  created: string | null;
}

export interface ImageSize {
  /** Sum over the platform manifests present; null when the image's own blob is missing. */
  size: number | null;
  platforms: PlatformSize[];
}

export class BlobFormatError extends Error {
  override name = 'BlobFormatError';
}

const INDEX_TYPES = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]);

export const isIndexMediaType = (mediaType: string): boolean => INDEX_TYPES.has(mediaType);

/** "os/architecture[/variant]", or "unknown" when neither is known. */
export function platformString(p: PlatformSpec | null | undefined): string {
  if (!p || (!p.os && !p.architecture)) return 'unknown';
  const base = `${p.os || 'unknown'}/${p.architecture || 'unknown'}`;
  return p.variant ? `${base}/${p.variant}` : base;
}

/** BuildKit's and buildx's attestation manifests sit in an index but are not a platform. */
export function isAttestation(d: Descriptor): boolean {
  return d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest';
}

function parseJson(raw: Buffer | string, what: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(raw.toString());
  } catch {
    throw new BlobFormatError(`${what} is not JSON`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw new BlobFormatError(`${what} is not a JSON object`);
  return doc as Record<string, unknown>;
}

function descriptor(v: unknown, what: string): Descriptor {
  const d = v as Partial<Descriptor> | null;
  if (
    typeof d !== 'object' ||
    d === null ||
    typeof d.digest !== 'string' ||
    typeof d.size !== 'number' ||
    !Number.isSafeInteger(d.size) ||
    d.size < 0
  )
    throw new BlobFormatError(`${what} is not a descriptor with a digest and a size`);
  return { ...d, mediaType: typeof d.mediaType === 'string' ? d.mediaType : '' } as Descriptor;
}

function isIndexDoc(mediaType: string, doc: Record<string, unknown>): boolean {
  if (isIndexMediaType(mediaType)) return true;
  if (typeof doc.mediaType === 'string' && isIndexMediaType(doc.mediaType)) return true;
  return Array.isArray(doc.manifests) && !('layers' in doc);
}

export function parseManifest(raw: Buffer | string): { config: Descriptor; layers: Descriptor[] } {
  const doc = parseJson(raw, 'manifest');
  if (!Array.isArray(doc.layers)) throw new BlobFormatError('manifest has no layers list');
  return {
    config: descriptor(doc.config, 'manifest config'),
    layers: doc.layers.map((l, i) => descriptor(l, `manifest layer ${i}`)),
  };
}

/** Config + layers: what the image really occupies, per the manifest's descriptors. */
export function manifestSize(m: { config: Descriptor; layers: Descriptor[] }): number {
  return m.layers.reduce((sum, l) => sum + l.size, m.config.size);
}

/** The index's child manifests, attestations left out. */
export function parseIndex(raw: Buffer | string): Descriptor[] {
  const doc = parseJson(raw, 'index');
  if (!Array.isArray(doc.manifests)) throw new BlobFormatError('index has no manifests list');
  return doc.manifests.map((m, i) => descriptor(m, `index entry ${i}`)).filter((d) => !isAttestation(d));
}

interface ManifestFacts {
  size: number;
  platform: string;
  created: string | null;
}

export class ImageSizer {
  private readonly facts = new Map<string, ManifestFacts>();
  constructor(private readonly maxEntries = 4096) {}

  /** Sizes the image whose target descriptor is `target`, reading blobs through `read`. */
  async measure(target: { mediaType: string; digest: string }, read: BlobReader): Promise<ImageSize> {
    const raw = await read(target.digest);
    if (!raw) return { size: null, platforms: [] };
    const doc = parseJson(raw, `blob ${target.digest}`);
    const platforms = isIndexDoc(target.mediaType, doc)
      ? await this.indexPlatforms(raw, read, 0)
      : [await this.platformOf(target.digest, raw, read, undefined)];
    return { size: sumPresent(platforms), platforms };
  }

  private async indexPlatforms(raw: Buffer, read: BlobReader, depth: number): Promise<PlatformSize[]> {
    const children = parseIndex(raw);
    const nested = await Promise.all(
      children.map(async (child): Promise<PlatformSize[]> => {
        const known = this.facts.get(child.digest);
        if (known) return [entry(child, known)];
        const blob = await read(child.digest);
        if (!blob)
          return [
            { platform: platformString(child.platform), digest: child.digest, size: null, created: null },
          ];
        if (isIndexMediaType(child.mediaType) && depth < 2) return this.indexPlatforms(blob, read, depth + 1);
        return [await this.platformOf(child.digest, blob, read, child.platform)];
      }),
    );
    return nested.flat();
  }

  private async platformOf(
    digest: string,
    raw: Buffer,
    read: BlobReader,
    declared: PlatformSpec | undefined,
  ): Promise<PlatformSize> {
    let facts = this.facts.get(digest);
    if (!facts) {
      const m = parseManifest(raw);
      const config = await readConfig(m.config, read);
      facts = {
        size: manifestSize(m),
        platform: platformString(config?.os || config?.architecture ? config : declared),
        created: typeof config?.created === 'string' ? config.created : null,
      };
      // A config not (yet) in the store may arrive later: only complete facts are kept.
      if (config) this.remember(digest, facts);
    }
    return entry({ digest, platform: declared }, facts);
  }

  private remember(digest: string, facts: ManifestFacts): void {
    if (this.facts.size >= this.maxEntries) {
      const oldest = this.facts.keys().next().value;
      if (oldest !== undefined) this.facts.delete(oldest);
    }
    this.facts.set(digest, facts);
  }
}

/** The index's declared platform wins over the config's (they agree for well-formed images). */
function entry(d: { digest: string; platform?: PlatformSpec | undefined }, f: ManifestFacts): PlatformSize {
  const declared = platformString(d.platform);
  return {
    platform: declared === 'unknown' ? f.platform : declared,
    digest: d.digest,
    size: f.size,
    created: f.created,
  };
}

async function readConfig(
  d: Descriptor,
  read: BlobReader,
): Promise<(PlatformSpec & { created?: unknown }) | null> {
  const raw = await read(d.digest);
  if (!raw) return null;
  try {
    return parseJson(raw, 'config') as PlatformSpec & { created?: unknown };
  } catch {
    return {}; // an artifact's config need not be JSON: present, but says nothing
  }
}

function sumPresent(platforms: PlatformSize[]): number {
  return platforms.reduce((sum, p) => sum + (p.size ?? 0), 0);
}
