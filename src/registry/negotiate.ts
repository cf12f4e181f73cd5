// Content negotiation for manifest GET/HEAD, the way Distribution does it: a client that lists
// media types without the stored one does not get it. An index or manifest list the client
// cannot read is replaced by its linux/amd64 (or this host's) entry when the client reads that;
// anything else is MANIFEST_UNKNOWN with the reason.
import { INDEX_TYPES } from './media-types.js';

/** The media types an Accept header lists; undefined when it accepts anything. */
export function acceptedTypes(header: string | string[] | undefined): Set<string> | undefined {
  const values = (Array.isArray(header) ? header : [header ?? ''])
    .flatMap((h) => h.split(','))
    .map((part) => {
      const [type = '', ...params] = part.split(';').map((p) => p.trim().toLowerCase());
      const q = params.find((p) => p.startsWith('q='));
      return q && Number(q.slice(2)) === 0 ? '' : type; // q=0 means "not this"
    })
    .filter(Boolean);
  if (values.length === 0 || values.some((t) => t === '*/*' || t === 'application/*')) return undefined;
  return new Set(values);
}

interface IndexEntry {
  mediaType?: string;
  digest?: string;
  platform?: { os?: string; architecture?: string };
}

/** The digest of the index entry to serve instead of an index the client cannot read, if any. */
export function platformFallback(mediaType: string, body: Buffer, accepted: Set<string>): string | undefined {
  if (!INDEX_TYPES.has(mediaType)) return undefined;
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  let entries: IndexEntry[];
  try {
    entries = ((JSON.parse(body.toString('utf8')) as { manifests?: IndexEntry[] }).manifests ?? []).filter(
      (e) => e.platform?.os === 'linux' && e.mediaType !== undefined && accepted.has(e.mediaType),
    );
  } catch {
    return undefined;
  }
  const pick =
    entries.find((e) => e.platform?.architecture === 'amd64') ??
    entries.find((e) => e.platform?.architecture === arch);
  return pick?.digest;
}
