// Image references, parsed by the grammar registries and clients share (Docker's distribution
// reference): [domain[:port]/]path[:tag][@digest]. A path component is lowercase letters and
// digits joined by '.', '_', '__' or '-' runs; a tag is up to 128 word characters, '.' or '-';
// the first component is a domain when it has a '.' or ':' or is `localhost`.
export interface ImageReference {
  /** Registry host[:port], when the reference names one. */
  domain?: string;
  /** Repository path inside the registry, e.g. "demo/app". */
  repository: string;
  tag?: string;
  digest?: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const DOMAIN =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$/;

export class ImageReferenceError extends Error {}

export function parseReference(input: string): ImageReference {
  if (input.length === 0) throw new ImageReferenceError('the image reference is empty');
  if (input.length > 255) throw new ImageReferenceError(`the image reference is longer than 255 characters`);
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw new ImageReferenceError(`"${digest}" is not a valid digest`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag))
      throw new ImageReferenceError(
        `"${tag}" is not a valid tag (letters, digits, '_', '.', '-'; at most 128)`,
      );
  }
  const parts = rest.split('/');
  let domain: string | undefined;
  const first = parts[0] ?? '';
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    if (!DOMAIN.test(first)) throw new ImageReferenceError(`"${first}" is not a valid registry host`);
    domain = first;
    parts.shift();
  }
  if (parts.length === 0 || parts.some((p) => !COMPONENT.test(p))) {
    const bad = parts.find((p) => !COMPONENT.test(p)) ?? '';
    throw new ImageReferenceError(
      `"${bad}" is not a valid repository name component (lowercase letters and digits, separated by '.', '_', '__' or '-')`,
    );
  }
  const ref: ImageReference = { repository: parts.join('/') };
  if (domain !== undefined) ref.domain = domain;
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

export function formatReference(r: ImageReference): string {
  return `${r.domain ? `${r.domain}/` : ''}${r.repository}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}
