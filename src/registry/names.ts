// Parsing of registry paths and validation of names, tags and digests, per the OCI
// Distribution Spec grammar. Anything that fails here never reaches storage, so a path
// traversal or an upper-case name is impossible by construction.
import { OciError } from './errors.js';

// name: path components of [a-z0-9]+ joined by ".", "_", "__" or "-"+, separated by "/".
const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const DIGEST_RE = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
export const MAX_NAME_LENGTH = 255;

export const ALGORITHMS = { sha256: 64, sha512: 128 } as const;
export type Algorithm = keyof typeof ALGORITHMS;

export type Route =
  | { kind: 'catalog' }
  | { kind: 'uploads'; name: string }
  | { kind: 'upload'; name: string; id: string }
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'manifest'; name: string; reference: string }
  | { kind: 'tags'; name: string }
  | { kind: 'referrers'; name: string; digest: string };

const ROUTE_RE =
  /^\/v2\/(.+?)\/(?:blobs\/uploads\/([^/]*)|blobs\/([^/]+)|manifests\/([^/]+)|tags\/list|referrers\/([^/]+))$/;

/** Maps a /v2/ path (without query) to a route, or undefined when no route matches. */
export function parseRegistryPath(path: string): Route | undefined {
  if (path === '/v2/_catalog') return { kind: 'catalog' };
  // Lazy name match, tried from the shortest: the first suffix that fits wins, and a name
  // component can never be one of the keywords' full suffixes because the suffix must end the path.
  const m = ROUTE_RE.exec(path);
  if (!m) return undefined;
  const name = decodeURIComponent(m[1] as string);
  validateName(name);
  if (m[2] !== undefined) return m[2] === '' ? { kind: 'uploads', name } : { kind: 'upload', name, id: m[2] };
  if (m[3] !== undefined) return { kind: 'blob', name, digest: decodeURIComponent(m[3]) };
  if (m[4] !== undefined) return { kind: 'manifest', name, reference: decodeURIComponent(m[4]) };
  if (m[5] !== undefined) return { kind: 'referrers', name, digest: decodeURIComponent(m[5]) };
  return { kind: 'tags', name };
}

export function validateName(name: string): void {
  if (name.length > MAX_NAME_LENGTH || !NAME_RE.test(name)) {
    throw new OciError('NAME_INVALID', `invalid repository name ${JSON.stringify(name)}`, {
      name,
      rule: 'lower-case components [a-z0-9] joined by ".", "_", "__" or "-", separated by "/", at most 255 characters',
    });
  }
}

export function isTag(ref: string): boolean {
  return TAG_RE.test(ref);
}

export function isDigestLike(ref: string): boolean {
  return ref.includes(':');
}

/** Validates a digest and returns its algorithm; unsupported algorithms are their own error. */
export function parseDigest(digest: string): { algorithm: Algorithm; hex: string } {
  if (!DIGEST_RE.test(digest))
    throw new OciError('DIGEST_INVALID', `invalid digest ${JSON.stringify(digest)}`);
  const [algorithm, hex] = digest.split(':') as [string, string];
  const length = ALGORITHMS[algorithm as Algorithm];
  if (length === undefined) {
    throw new OciError(
      'DIGEST_INVALID',
      `unsupported digest algorithm ${algorithm}; supported: sha256, sha512`,
    );
  }
  if (hex.length !== length || !/^[a-f0-9]+$/.test(hex)) {
    throw new OciError('DIGEST_INVALID', `invalid ${algorithm} digest ${JSON.stringify(digest)}`);
  }
  return { algorithm: algorithm as Algorithm, hex };
}

export function validateTag(tag: string): void {
  if (!isTag(tag)) {
    throw new OciError('MANIFEST_INVALID', `invalid tag ${JSON.stringify(tag)}`, {
      rule: '[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}',
    });
  }
}
