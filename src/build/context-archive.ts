// A build context uploaded as a tar or tar.gz (gzip is told by its magic bytes), extracted while
// it streams in, into a private temp dir (0700) that the caller removes after the build. The
// upload (as sent), the bytes of file content and the entry count are limited while the archive
// streams (a member over the limit is refused from its header, before a byte of it is written).
// Only what a context needs is written: regular files (0644, or 0755 when the archive gives any
// execute bit; never setuid or setgid), directories (0755), symlinks, and hard links to a regular
// file extracted earlier. Every symlink is resolved inside the extracted tree as the kernel would
// walk it (links through links, ".." from where the walk is: see archive/link-tree.ts) and the
// whole archive is refused if any resolution leaves the tree. Symlinks are created only after
// every file and directory is written and every link is checked, and nothing is ever written
// under a name that goes through a link or a file, so no write can be redirected, even for a
// moment. Absolute names, ".." segments, devices and FIFOs refuse the whole archive; a refused
// archive leaves nothing behind. The Dockerfile must be a regular file at the given path.
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, link, mkdir, mkdtemp, open, rm, symlink, type FileHandle } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Readable, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { LinkResolutionError, LinkTree } from '../archive/link-tree.js';
import { describeType, escapesRoot, readTar, TarFormatError } from '../archive/tar-reader.js';
import { ContextTooLargeError, DEFAULT_CONTEXT_LIMITS } from './context-limits.js';
import { checkContextPath, ContextInvalidError, DefinitionError, MAX_CONTEXT } from './definition.js';

export { ContextTooLargeError } from './context-limits.js';

/** The archive cannot be used as a context (bad member, bad link, corrupt, no Dockerfile): a 400. */
export class ContextArchiveError extends ContextInvalidError {}

export interface ContextArchiveOptions {
  /** Parent of the temp dir (the data dir's builds work dir). */
  workDir: string;
  /** The Dockerfile's path inside the archive. */
  dockerfile: string;
  /** Most bytes uploaded, as sent (default MAX_CONTEXT). */
  maxUpload?: number;
  /** Most bytes of file content unpacked (build.contextMaxBytes). */
  maxBytes?: number;
  /** Most entries: files, directories and links (build.contextMaxFiles). */
  maxFiles?: number;
}

export interface ExtractedContext {
  /** The context's root: a private temp dir the caller removes. */
  dir: string;
  /** The Dockerfile's text. */
  dockerfile: string;
  /** sha256 (hex) and size of the uploaded bytes, as sent. */
  sha256: string;
  size: number;
  /** Regular files (hard links included) and their bytes. */
  files: number;
  bytes: number;
}

const MAX_DOCKERFILE = 1 << 20;
/** The tar stream a context of the allowed size and count may take: per entry, a header, a pax record, padding. */
const TAR_OVERHEAD_PER_ENTRY = 4096;
const TAR_OVERHEAD = 1 << 20; // one long pax record, the end-of-archive blocks, a record's padding
/** Linux's PATH_MAX less its NUL: a longer link target cannot be created. */
const MAX_LINK_TARGET = 4095;
const LISTED = 20; // member names quoted when the Dockerfile is missing
const GZIP = [0x1f, 0x8b];
/** fs errors an archive can cause by its shape (names too long, a file where a dir must go, …). */
const SHAPE_ERRORS = new Set(['EEXIST', 'ENOTDIR', 'EISDIR', 'ENAMETOOLONG', 'ELOOP', 'EINVAL', 'EILSEQ']);
/** A new file, never through a link at its own name (O_EXCL already refuses one; O_NOFOLLOW says so). */
const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

const toBuffer = (c: Uint8Array) =>
  Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength);

/** Passes the source on, counting (over max: too large) and hashing; `failed` says what a failing source means. */
async function* counted(
  source: AsyncIterable<Uint8Array>,
  max: number,
  tooLarge: () => string,
  seen: { bytes: number; hash?: ReturnType<typeof createHash> },
  failed: (err: unknown) => unknown = (err) => err,
): AsyncGenerator<Buffer> {
  const it = source[Symbol.asyncIterator]();
  try {
    for (;;) {
      let r: IteratorResult<Uint8Array>;
      try {
        r = await it.next();
      } catch (err) {
        throw failed(err);
      }
      if (r.done) return;
      const chunk = toBuffer(r.value);
      seen.bytes += chunk.length;
      if (seen.bytes > max) throw new ContextTooLargeError(tooLarge());
      seen.hash?.update(chunk);
      yield chunk;
    }
  } finally {
    try {
      await it.return?.();
    } catch {
      // the error that ended the loop (if any) is the one worth reporting
    }
  }
}

/** The bytes of source, gunzipped when they start with gzip's magic. */
async function* unpacked(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const it = source[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let got = 0;
  let done = false;
  while (got < GZIP.length) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    head.push(r.value);
    got += r.value.length;
  }
  const first = Buffer.concat(head);
  async function* all(): AsyncGenerator<Buffer> {
    try {
      if (first.length) yield first;
      for (let r; !done && !(r = await it.next()).done;) yield r.value;
    } finally {
      await it.return?.();
    }
  }
  if (!(first[0] === GZIP[0] && first[1] === GZIP[1])) {
    yield* all();
    return;
  }
  const gunzip = createGunzip();
  pipeline(Readable.from(all(), { objectMode: false }), gunzip, () => {
    // errors reach the reader through gunzip, which pipeline destroys with them
  });
  try {
    yield* gunzip;
  } finally {
    gunzip.destroy();
  }
}

/** A member name made relative and tidy ('' for the root); absolute or ".." refuses the archive. */
function memberPath(raw: string, what: string): string {
  if (raw.includes('\0') || escapesRoot(raw)) {
    throw new ContextArchiveError(`${what} "${raw}" is an absolute path or has a ".." segment`);
  }
  return raw
    .split('/')
    .filter((s) => s !== '' && s !== '.')
    .join('/');
}

async function writeAll(fh: FileHandle, buf: Buffer): Promise<void> {
  for (let off = 0; off < buf.length;) off += (await fh.write(buf, off)).bytesWritten;
}

/**
 * Extracts the uploaded archive into a new temp dir under workDir. Throws ContextArchiveError or
 * ContextTooLargeError (the temp dir then removed); consumes source up to the end of the archive.
 */
export async function extractContext(
  source: AsyncIterable<Uint8Array>,
  o: ContextArchiveOptions,
): Promise<ExtractedContext> {
  const maxUpload = o.maxUpload ?? MAX_CONTEXT;
  const maxBytes = o.maxBytes ?? DEFAULT_CONTEXT_LIMITS.maxBytes;
  const maxFiles = o.maxFiles ?? DEFAULT_CONTEXT_LIMITS.maxFiles;
  const maxTar = maxBytes + maxFiles * TAR_OVERHEAD_PER_ENTRY + TAR_OVERHEAD;
  try {
    checkContextPath(o.dockerfile);
  } catch (err) {
    if (err instanceof DefinitionError) throw new ContextArchiveError(`dockerfile: ${err.message}`);
    throw err;
  }
  await mkdir(o.workDir, { recursive: true, mode: 0o700 });
  const root = await mkdtemp(join(o.workDir, 'context-'));

  const upload = { bytes: 0, hash: createHash('sha256') };
  const tarBytes = { bytes: 0 };
  const tree = new LinkTree();
  const names: string[] = [];
  let members = 0;
  let files = 0;
  let bytes = 0;

  /** Refuses a member whose path (`at`: the member or the directory it goes in) goes through a symlink or a file. */
  function throughNoLink(at: string, member: string): void {
    const kind = tree.kind(at);
    const above = kind === 'symlink' || kind === 'file' ? { path: at, kind } : tree.blockingAncestor(at);
    if (above)
      throw new ContextArchiveError(
        `archive member "${member}" lies under the ${above.kind} "${above.path}"`,
      );
  }
  /** Creates the missing directories of rel (each 0755), refusing to go through a link or a file. */
  async function ensureDir(rel: string, member: string): Promise<void> {
    if (rel === '') return;
    throughNoLink(rel, member);
    const parts = rel.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const p = parts.slice(0, i).join('/');
      if (tree.kind(p) === 'dir') continue;
      await mkdir(join(root, p), { mode: 0o755 });
      await chmod(join(root, p), 0o755);
      tree.add(p, 'dir');
    }
  }

  try {
    const raw = counted(
      source,
      maxUpload,
      () => `the uploaded archive is larger than ${maxUpload} bytes`,
      upload,
      (err) => new ContextArchiveError(`the upload failed: ${(err as Error).message}`, { cause: err }),
    );
    const tar = counted(
      unpacked(raw),
      maxTar,
      () =>
        `the archive's tar stream is longer than ${maxTar} bytes (build.contextMaxBytes, plus ${TAR_OVERHEAD_PER_ENTRY} bytes of headers for each entry build.contextMaxFiles allows and ${TAR_OVERHEAD} for the archive's end)`,
      tarBytes,
    );
    for await (const entry of readTar(tar)) {
      if (++members > maxFiles) {
        throw new ContextTooLargeError(
          `the archive has more than ${maxFiles} files, directories and links (build.contextMaxFiles)`,
        );
      }
      const name = memberPath(entry.name, 'archive member');
      if (name === '') {
        if (entry.type === 'directory') continue; // "./" itself
        throw new ContextArchiveError(`archive member "${entry.name}" has no name`);
      }
      if (names.length < LISTED) names.push(name);
      const parent = posix.dirname(name) === '.' ? '' : posix.dirname(name);
      const to = join(root, name);
      try {
        if (entry.type === 'directory') {
          if (tree.kind(name) === 'dir') continue;
          if (tree.kind(name))
            throw new ContextArchiveError(`archive member "${name}" appears more than once`);
          await ensureDir(name, name);
          continue;
        }
        if (!['file', 'symlink', 'hardlink'].includes(entry.type)) {
          throw new ContextArchiveError(
            `archive member "${name}" is a ${describeType(entry)}; a build context holds only files, directories and links`,
          );
        }
        await ensureDir(parent, name);
        if (tree.kind(name)) throw new ContextArchiveError(`archive member "${name}" appears more than once`);
        if (entry.type === 'file') {
          bytes += entry.size;
          if (bytes > maxBytes) {
            throw new ContextTooLargeError(
              `the build context unpacks to more than ${maxBytes} bytes (build.contextMaxBytes)`,
            );
          }
          const mode = entry.mode & 0o111 ? 0o755 : 0o644;
          const fh = await open(to, CREATE, mode);
          tree.add(name, 'file');
          files++;
          try {
            await fh.chmod(mode); // exactly, whatever the umask
            for await (const chunk of entry.body) await writeAll(fh, chunk);
          } finally {
            await fh.close();
          }
        } else if (entry.type === 'symlink') {
          const target = entry.linkname;
          if (target === '' || target.includes('\0') || Buffer.byteLength(target) > MAX_LINK_TARGET) {
            throw new ContextArchiveError(
              `symlink "${name}" has an empty, NUL-holding or over-long (more than ${MAX_LINK_TARGET} bytes) target`,
            );
          }
          // Judged by its text first (cheap, and early for the plain cases); by the whole tree at the end.
          if (target.startsWith('/'))
            throw new ContextArchiveError(
              `symlink "${name}" -> "${target}" leaves the context: its target is absolute`,
            );
          const lexical = posix.normalize(posix.join(parent, target));
          if (lexical === '..' || lexical.startsWith('../'))
            throw new ContextArchiveError(`symlink "${name}" -> "${target}" leaves the context`);
          tree.add(name, 'symlink', target); // created once every link is known to stay inside
        } else {
          const target = entry.linkname;
          if (target.includes('\0') || escapesRoot(target))
            throw new ContextArchiveError(`hard link "${name}" -> "${target}" leaves the context`);
          const at = memberPath(target, `hard link "${name}" points to`);
          const above = tree.blockingAncestor(at);
          if (above?.kind === 'symlink') {
            throw new ContextArchiveError(
              `hard link "${name}" -> "${target}" goes through the symlink "${above.path}"; it must name a regular file earlier in the archive`,
            );
          }
          if (tree.kind(at) !== 'file' || above) {
            throw new ContextArchiveError(
              `hard link "${name}" -> "${target}" is not a regular file earlier in the archive`,
            );
          }
          await link(join(root, at), to);
          tree.add(name, 'file');
          files++;
        }
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (typeof code === 'string' && SHAPE_ERRORS.has(code)) {
          throw new ContextArchiveError(`archive member "${name}" cannot be extracted (${code})`);
        }
        throw err;
      }
    }

    try {
      tree.checkLinks();
    } catch (err) {
      if (err instanceof LinkResolutionError) throw new ContextArchiveError(err.message);
      throw err;
    }
    for (const l of tree.symlinks()) {
      try {
        await symlink(l.target, join(root, l.path));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (typeof code === 'string' && SHAPE_ERRORS.has(code))
          throw new ContextArchiveError(`archive member "${l.path}" cannot be extracted (${code})`);
        throw err;
      }
    }

    if (tree.kind(o.dockerfile) !== 'file') {
      const kind = tree.kind(o.dockerfile);
      const what =
        kind === 'symlink'
          ? 'is a symlink'
          : kind === 'dir'
            ? 'is a directory'
            : members === 0
              ? 'is missing: the archive is empty'
              : `is missing; the archive holds: ${names.join(', ')}${members > LISTED ? ` and ${members - LISTED} more` : ''}`;
      throw new ContextArchiveError(`the Dockerfile "${o.dockerfile}" ${what}`);
    }
    const dockerfile = await readDockerfile(join(root, o.dockerfile), o.dockerfile);
    return {
      dir: root,
      dockerfile,
      sha256: upload.hash.digest('hex'),
      size: upload.bytes,
      files,
      bytes,
    };
  } catch (err) {
    await rm(root, { recursive: true, force: true });
    const zlib = String((err as NodeJS.ErrnoException).code).startsWith('Z_');
    if (err instanceof TarFormatError || zlib) {
      throw new ContextArchiveError(`the archive is truncated or corrupt: ${(err as Error).message}`);
    }
    throw err;
  }
}

/** The Dockerfile's text, read without following a link (it is a regular file: checked above). */
async function readDockerfile(at: string, name: string): Promise<string> {
  const fh = await open(at, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const size = (await fh.stat()).size;
    if (size > MAX_DOCKERFILE)
      throw new ContextArchiveError(`the Dockerfile "${name}" is ${size} bytes; at most ${MAX_DOCKERFILE}`);
    return await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
}
