// A build context uploaded as a tar or tar.gz (gzip is told by its magic bytes), extracted while
// it streams in, into a private temp dir (0700) that the caller removes after the build. The
// upload, the unpacked bytes and the member count are limited. Only what a context needs is
// written: regular files (0644, or 0755 when the archive gives any execute bit; never setuid or
// setgid), directories (0755), symlinks whose target, taken relative to the link's directory,
// stays inside the context, and hard links to a regular file extracted earlier. Absolute names, ".."
// segments, absolute or escaping link targets, members under a symlink, devices and FIFOs refuse
// the whole archive. The Dockerfile must be a regular file at the given path.
import { createHash } from 'node:crypto';
import {
  chmod,
  link,
  mkdir,
  mkdtemp,
  open,
  readFile,
  rm,
  stat,
  symlink,
  type FileHandle,
} from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Readable, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { describeType, escapesRoot, readTar, TarFormatError } from '../archive/tar-reader.js';
import { checkContextPath, DefinitionError, MAX_CONTEXT } from './definition.js';

/** The archive cannot be used as a context (bad member, bad link, corrupt, no Dockerfile): a 400. */
export class ContextArchiveError extends Error {}

/** The upload, what it unpacks to or its member count is over the limit: a 413. */
export class ContextTooLargeError extends Error {}

export interface ContextArchiveOptions {
  /** Parent of the temp dir (the data dir's builds work dir). */
  workDir: string;
  /** The Dockerfile's path inside the archive. */
  dockerfile: string;
  /** Most bytes uploaded, and most bytes of file content unpacked (the uncompressed tar stream may be twice that). */
  maxBytes?: number;
  maxMembers?: number;
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

export const MAX_MEMBERS = 100_000;
const MAX_DOCKERFILE = 1 << 20;
const LISTED = 20; // member names quoted when the Dockerfile is missing
const GZIP = [0x1f, 0x8b];
/** fs errors an archive can cause by its shape (names too long, a file where a dir must go, …). */
const SHAPE_ERRORS = new Set(['EEXIST', 'ENOTDIR', 'EISDIR', 'ENAMETOOLONG', 'ELOOP', 'EINVAL', 'EILSEQ']);

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
  const maxBytes = o.maxBytes ?? MAX_CONTEXT;
  const maxMembers = o.maxMembers ?? MAX_MEMBERS;
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
  const files = new Set<string>();
  const dirs = new Set<string>(['']);
  const links = new Set<string>(); // symlinks
  const names: string[] = [];
  let members = 0;
  let bytes = 0;

  /** Creates the missing directories of rel (each 0755), refusing to go through a file or symlink. */
  async function ensureDir(rel: string, member: string): Promise<void> {
    const parts = rel === '' ? [] : rel.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const p = parts.slice(0, i).join('/');
      if (dirs.has(p)) continue;
      if (links.has(p))
        throw new ContextArchiveError(`archive member "${member}" lies under the symlink "${p}"`);
      if (files.has(p))
        throw new ContextArchiveError(`archive member "${member}" lies under the file "${p}"`);
      await mkdir(join(root, p), { mode: 0o755 });
      await chmod(join(root, p), 0o755);
      dirs.add(p);
    }
  }
  const taken = (p: string) => files.has(p) || dirs.has(p) || links.has(p);

  try {
    const raw = counted(
      source,
      maxBytes,
      () => `the uploaded archive is larger than ${maxBytes} bytes`,
      upload,
      (err) => new ContextArchiveError(`the upload failed: ${(err as Error).message}`, { cause: err }),
    );
    const tar = counted(
      unpacked(raw),
      maxBytes * 2,
      () => `the archive unpacks to more than ${maxBytes * 2} bytes of tar stream`,
      tarBytes,
    );
    for await (const entry of readTar(tar)) {
      if (++members > maxMembers) {
        throw new ContextTooLargeError(`the archive has more than ${maxMembers} members`);
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
          if (dirs.has(name)) continue;
          if (taken(name)) throw new ContextArchiveError(`archive member "${name}" appears more than once`);
          await ensureDir(name, name);
          continue;
        }
        if (!['file', 'symlink', 'hardlink'].includes(entry.type)) {
          throw new ContextArchiveError(
            `archive member "${name}" is a ${describeType(entry)}; a build context holds only files, directories and links`,
          );
        }
        await ensureDir(parent, name);
        if (taken(name)) throw new ContextArchiveError(`archive member "${name}" appears more than once`);
        if (entry.type === 'file') {
          bytes += entry.size;
          if (bytes > maxBytes) {
            throw new ContextTooLargeError(`the build context unpacks to more than ${maxBytes} bytes`);
          }
          const mode = entry.mode & 0o111 ? 0o755 : 0o644;
          const fh = await open(to, 'wx', mode);
          files.add(name);
          try {
            await fh.chmod(mode); // exactly, whatever the umask
            for await (const chunk of entry.body) await writeAll(fh, chunk);
          } finally {
            await fh.close();
          }
        } else if (entry.type === 'symlink') {
          const target = entry.linkname;
          if (target === '' || target.includes('\0') || target.startsWith('/')) {
            throw new ContextArchiveError(
              `symlink "${name}" points to "${target}"; link targets must be relative paths inside the context`,
            );
          }
          const resolved = posix.normalize(posix.join(parent, target));
          if (resolved === '..' || resolved.startsWith('../')) {
            throw new ContextArchiveError(`symlink "${name}" points to "${target}", outside the context`);
          }
          await symlink(target, to);
          links.add(name);
        } else {
          const target = memberPath(entry.linkname, `hard link "${name}" points to`);
          if (!files.has(target)) {
            throw new ContextArchiveError(
              `hard link "${name}" points to "${entry.linkname}", which is not a regular file earlier in the archive`,
            );
          }
          await link(join(root, target), to);
          files.add(name);
        }
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (typeof code === 'string' && SHAPE_ERRORS.has(code)) {
          throw new ContextArchiveError(`archive member "${name}" cannot be extracted (${code})`);
        }
        throw err;
      }
    }

    if (!files.has(o.dockerfile)) {
      const what = links.has(o.dockerfile)
        ? 'is a symlink'
        : dirs.has(o.dockerfile)
          ? 'is a directory'
          : members === 0
            ? 'is missing: the archive is empty'
            : `is missing; the archive holds: ${names.join(', ')}${members > LISTED ? ` and ${members - LISTED} more` : ''}`;
      throw new ContextArchiveError(`the Dockerfile "${o.dockerfile}" ${what}`);
    }
    const at = join(root, o.dockerfile);
    const size = (await stat(at)).size;
    if (size > MAX_DOCKERFILE) {
      throw new ContextArchiveError(
        `the Dockerfile "${o.dockerfile}" is ${size} bytes; at most ${MAX_DOCKERFILE}`,
      );
    }
    return {
      dir: root,
      dockerfile: await readFile(at, 'utf8'),
      sha256: upload.hash.digest('hex'),
      size: upload.bytes,
      files: files.size,
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
