// Which blobs were found in the blob store lately. A HEAD or GET of a blob first asks the state
// store whether the repository links it, then checks that the content is really there: a file
// stat, or on S3 a HEAD request, which cost more than the rest of a HEAD blob together. A blob
// that was there a moment ago is taken as still there for a few seconds: the registry itself
// removes content only in garbage collection, and only after its last link is gone, so the
// state store's answer already excludes it. The check guards against content removed behind the
// registry's back, which is then noticed within `ttlMs`.
export const PRESENT_TTL_MS = 10_000;
const MAX_ENTRIES = 100_000;

export class PresentBlobs {
  /** Size by digest, with when it was seen; Map order is the order they were seen in. */
  private readonly seen = new Map<string, { size: number; at: number }>();

  constructor(
    private readonly stat: (digest: string) => Promise<number | undefined>,
    private readonly ttlMs = PRESENT_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** The stored size of digest, or undefined when the store does not have it. */
  async size(digest: string): Promise<number | undefined> {
    const t = this.now();
    const hit = this.seen.get(digest);
    if (hit && t - hit.at < this.ttlMs) return hit.size;
    this.seen.delete(digest);
    const size = await this.stat(digest);
    if (size !== undefined) {
      this.seen.set(digest, { size, at: t });
      if (this.seen.size > MAX_ENTRIES) this.seen.delete(this.seen.keys().next().value as string);
    }
    return size;
  }
}
