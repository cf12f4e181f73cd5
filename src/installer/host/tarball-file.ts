// A local BuildKit tarball (`--source tarball`), read exactly once. Its path is opened a single
// time without following a link at its last component and without blocking (a FIFO cannot hold
// the run); what is checked, a regular file of a sane size that the data dir's owner may read, is
// checked on that descriptor (fstat). Its bytes are then copied once into a private file (no
// name, see private-file.ts) while they are hashed: the checksum the run verifies and the
// archive it extracts are the same bytes, whatever happens to the path or the file afterwards.
import { createHash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { open, readlink, type FileHandle } from 'node:fs/promises';
import { StepError } from '../types.js';
import { privateFile, writeAll } from './private-file.js';

/** Far above a BuildKit release (about 60 MB): a bigger "tarball" is a mistake or an attack. */
export const MAX_TARBALL_BYTES = 1024 * 1024 * 1024;

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;
const CHUNK = 1024 * 1024;

/** Whom a tarball must be readable by (the data dir's owner), by uid and primary gid. */
export interface Reader {
  uid: number;
  gid: number;
}

/** A tarball that is refused: missing, a link, not a regular file, too big, not readable. */
export class TarballError extends StepError {}

/**
 * Could uid/gid read a file with these stats? Owner, then group, then other bits, as the kernel
 * decides; supplementary groups are not known here and not counted.
 */
function readableBy(st: Pick<Stats, 'uid' | 'gid' | 'mode'>, uid: number, gid: number): boolean {
  if (uid === 0) return true;
  if (st.uid === uid) return (st.mode & constants.S_IRUSR) !== 0;
  if (st.gid === gid) return (st.mode & constants.S_IRGRP) !== 0;
  return (st.mode & constants.S_IROTH) !== 0;
}

/** Why an open failed, in words that say what to do. */
async function openProblem(path: string, err: NodeJS.ErrnoException, reader?: Reader): Promise<string> {
  if (err.code === 'EACCES' && reader)
    return (
      `tarball ${path} is not readable by uid ${reader.uid} (the data dir's owner): EACCES; ` +
      'make it, and the directories above it, readable to them'
    );
  if (err.code === 'ELOOP') {
    const target = await readlink(path).catch(() => undefined);
    return (
      `tarball ${path} is a symbolic link${target ? ` (to ${target})` : ''}: ` +
      'name the file itself (links are not followed, so what is checked is what is read)'
    );
  }
  return `tarball ${path} cannot be opened: ${err.code ?? err.message}`;
}

/**
 * Opens the tarball once (see the header) and checks it on the descriptor: a regular file, at
 * most MAX_TARBALL_BYTES, readable by `reader` when given. Throws TarballError otherwise.
 */
export async function openTarball(path: string, reader?: Reader): Promise<FileHandle> {
  let fh: FileHandle;
  try {
    fh = await open(path, OPEN_FLAGS);
  } catch (err) {
    throw new TarballError(await openProblem(path, err as NodeJS.ErrnoException, reader));
  }
  try {
    checkOpened(path, await fh.stat(), reader);
    return fh;
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/** The checks made on an opened tarball's own stats (never on its path). */
export function checkOpened(path: string, st: Stats, reader?: Reader): void {
  if (!st.isFile()) throw new TarballError(`tarball ${path} is not a regular file`);
  if (st.size > MAX_TARBALL_BYTES)
    throw new TarballError(
      `tarball ${path} is ${st.size} bytes, more than the ${MAX_TARBALL_BYTES} a BuildKit release could be`,
    );
  if (reader && !readableBy(st, reader.uid, reader.gid))
    throw new TarballError(
      `tarball ${path} is not readable by uid ${reader.uid} (the data dir's owner); make it readable to them`,
    );
}

/** The private copy of a tarball: its bytes' sha256 and size, readable through `handle`. */
export interface TarballCopy {
  path: string;
  sha256: string;
  size: number;
  handle: FileHandle;
}

/**
 * Copies everything `source` holds (read from offset 0, whatever its position) into a private
 * file in `workDir`, hashing the bytes as they are written. The copy stops at MAX_TARBALL_BYTES:
 * a file that grows past it after the check is refused, not copied on and on.
 */
export async function copyTarball(path: string, source: FileHandle, workDir: string): Promise<TarballCopy> {
  const handle = await privateFile(workDir);
  try {
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(CHUNK);
    let size = 0;
    for (;;) {
      const { bytesRead } = await source.read(buf, 0, CHUNK, size);
      if (bytesRead === 0) break;
      size += bytesRead;
      if (size > MAX_TARBALL_BYTES)
        throw new TarballError(`tarball ${path} grew past ${MAX_TARBALL_BYTES} bytes while it was read`);
      const chunk = buf.subarray(0, bytesRead);
      hash.update(chunk);
      await writeAll(handle, chunk);
    }
    return { path, sha256: hash.digest('hex'), size, handle };
  } catch (err) {
    await handle.close();
    throw err;
  }
}
