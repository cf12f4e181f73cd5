// Manifest bytes kept in memory by digest. A digest names its content for good, so an entry never
// goes stale: whether the manifest is still in a repository is asked of the state store on every
// request, and only then are its bytes taken from here instead of the blob store (a file open,
// stat, read and close, or an S3 GET, for a few KiB). Bounded by total bytes; the least recently
// used entries go first, and a manifest larger than a quarter of the bound is never kept.
export const MANIFEST_CACHE_BYTES = 8 * 1024 * 1024;

export class ManifestBytes {
  private readonly entries = new Map<string, Buffer>();
  private bytes = 0;

  constructor(
    private readonly read: (digest: string) => Promise<Buffer>,
    private readonly limit = MANIFEST_CACHE_BYTES,
  ) {}

  async get(digest: string): Promise<Buffer> {
    const hit = this.entries.get(digest);
    if (hit) {
      this.entries.delete(digest); // re-inserted last: the Map's first key is the oldest
      this.entries.set(digest, hit);
      return hit;
    }
    const body = await this.read(digest);
    if (body.length <= this.limit / 4 && !this.entries.has(digest)) {
      this.entries.set(digest, body);
      this.bytes += body.length;
      for (const [oldest, b] of this.entries) {
        if (this.bytes <= this.limit) break;
        this.entries.delete(oldest);
        this.bytes -= b.length;
      }
    }
    return body;
  }

  /** Bytes held now (for tests and metrics). */
  get size(): number {
    return this.bytes;
  }
}
