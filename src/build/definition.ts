// A build's definition: what to build and where the image goes. Validated once when a build is
// submitted, stored with the build (so it can be repeated), never holding secrets.
import { ContextTooLargeError, DEFAULT_CONTEXT_LIMITS, type ContextLimits } from './context-limits.js';
import { checkDockerfile } from './dockerfile.js';
import { parsePlatforms } from './platform.js';
import { parseReference } from './reference.js';

/**
 * Key of the extracted context dir of a build from an uploaded archive. A symbol, so JSON.stringify
 * leaves it out: the stored definition records the archive (digest, size), never a temp path.
 */
export const CONTEXT_DIR: unique symbol = Symbol('contextDir');

/** What an uploaded tar / tar.gz context was: recorded instead of its content. */
export interface ArchiveSource {
  /** sha256 of the uploaded bytes (hex) and their count. */
  sha256: string;
  size: number;
  /** The Dockerfile's path inside the archive. */
  dockerfile: string;
}

export interface BuildDefinition {
  dockerfile: string;
  /** Context files: relative path → content. */
  files: Record<string, string>;
  /** Set when the context came as an archive (files is then empty). */
  archive?: ArchiveSource;
  /** The archive's extracted context, for the driver (not stored; see CONTEXT_DIR). */
  [CONTEXT_DIR]?: string;
  /** Repository in this registry, e.g. "demo/app". */
  repository: string;
  tags: string[];
  buildArgs: Record<string, string>;
  target?: string;
  platforms?: string[];
  noCache: boolean;
  labels: Record<string, string>;
  /** Import and export BuildKit's cache as `<repository>:buildcache` in this registry. */
  cache?: boolean;
  /** Ids of the secrets the build was given (their values are never stored). */
  secretIds?: string[];
  /**
   * Images of this registry standing in for the ones the Dockerfile names: FROM name (as written,
   * e.g. `node:20-bookworm-slim`) → repository:tag or repository@digest here. What
   * `docker buildx build --build-context NAME=docker-image://…` does, for mirrors and air-gapped hosts.
   */
  baseImages?: Record<string, string>;
}

/** At most this many base images are replaced in one build. */
export const MAX_BASE_IMAGES = 16;

/** Secret ids as BuildKit and `RUN --mount=type=secret,id=…` take them. */
export function checkSecrets(secrets: Record<string, string>): void {
  for (const [id, value] of Object.entries(secrets)) {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(id))
      throw new DefinitionError(`"${id}" is not a secret id (letters, digits, '.', '_', '-')`);
    if (value.length === 0 || value.length > 512 * 1024)
      throw new DefinitionError(`secret ${id} must hold 1 byte to 512 KiB`);
  }
}

export class DefinitionError extends Error {}

/** The build context itself is unusable (a path or link leaving it, a bad archive): a 400 of its own. */
export class ContextInvalidError extends DefinitionError {}

/** The most bytes of an uploaded context archive, as sent (what it unpacks to: build.contextMaxBytes). */
export const MAX_CONTEXT = 64 * 1024 * 1024;

/** A context path: relative, normalised, never leaving the context. */
export function checkContextPath(path: string): void {
  if (path === '' || path.startsWith('/') || path.includes('\\') || path.includes('\0')) {
    throw new ContextInvalidError(`context path "${path}" must be relative (no leading /, no backslashes)`);
  }
  if (path.split('/').some((p) => p === '..' || p === '.' || p === '')) {
    throw new ContextInvalidError(`context path "${path}" must not contain "..", "." or empty segments`);
  }
}

/**
 * The JSON form's files under the same rules as an archive's members: each path inside the
 * context (they are written as regular files, so no link can redirect them), none lying under
 * another file, and the count and bytes (the Dockerfile included) within the limits.
 */
function checkContextFiles(d: BuildDefinition, limits: ContextLimits): void {
  const paths = Object.keys(d.files);
  if (paths.length + 1 > limits.maxFiles) {
    throw new ContextTooLargeError(
      `the build context has ${paths.length + 1} files (the Dockerfile included); at most ${limits.maxFiles} (build.contextMaxFiles)`,
    );
  }
  let size = Buffer.byteLength(d.dockerfile);
  for (const [path, content] of Object.entries(d.files)) {
    checkContextPath(path);
    size += Buffer.byteLength(content);
  }
  if (size > limits.maxBytes) {
    throw new ContextTooLargeError(
      `the build context is ${size} bytes; at most ${limits.maxBytes} (build.contextMaxBytes)`,
    );
  }
  const given = new Set(paths);
  for (const path of paths) {
    for (let at = path.indexOf('/'); at !== -1; at = path.indexOf('/', at + 1)) {
      const above = path.slice(0, at);
      if (given.has(above))
        throw new ContextInvalidError(`context path "${path}" lies under the file "${above}"`);
    }
  }
}

/** Throws DefinitionError (ContextInvalidError for the context's paths) or ContextTooLargeError. */
export function checkDefinition(d: BuildDefinition, limits: ContextLimits = DEFAULT_CONTEXT_LIMITS): void {
  try {
    checkDockerfile(d.dockerfile);
    for (const tag of d.tags) parseReference(`${d.repository}:${tag}`);
    if (d.tags.length === 0) parseReference(d.repository);
    if (d.platforms) parsePlatforms(d.platforms.join(','));
  } catch (err) {
    throw new DefinitionError((err as Error).message);
  }
  if (parseReference(d.repository).domain) {
    throw new DefinitionError(
      `repository "${d.repository}" names a registry host; builds push to this registry only`,
    );
  }
  if (d.archive) {
    checkContextPath(d.archive.dockerfile);
    if (Object.keys(d.files).length > 0)
      throw new DefinitionError('a build takes its context from files or from an archive, not both');
  }
  checkContextFiles(d, limits);
  if (d.target !== undefined && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(d.target)) {
    throw new DefinitionError(`target "${d.target}" is not a stage name`);
  }
  checkBaseImages(d.baseImages ?? {});
  for (const k of [...Object.keys(d.buildArgs), ...Object.keys(d.labels)]) {
    if (!/^[^=\s,"]+$/.test(k))
      throw new DefinitionError(`"${k}" is not a valid build argument or label name`);
  }
}

/** Each FROM name a reference, each stand-in an image of this registry (no other host). */
function checkBaseImages(images: Record<string, string>): void {
  const entries = Object.entries(images);
  if (entries.length > MAX_BASE_IMAGES)
    throw new DefinitionError(`${entries.length} base images replaced; at most ${MAX_BASE_IMAGES}`);
  for (const [name, ref] of entries) {
    const what = (err: unknown) => (err instanceof Error ? err.message : String(err));
    try {
      parseReference(name);
    } catch (err) {
      throw new DefinitionError(`base image "${name}" is not an image name: ${what(err)}`);
    }
    let stand;
    try {
      stand = parseReference(ref);
    } catch (err) {
      throw new DefinitionError(`the image standing in for "${name}" is not a reference: ${what(err)}`);
    }
    if (stand.domain)
      throw new DefinitionError(
        `the image standing in for "${name}" names a registry host ("${stand.domain}"); name a repository of this registry`,
      );
  }
}
