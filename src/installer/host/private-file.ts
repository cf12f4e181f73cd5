// A scratch file only this process can reach: created in a fresh 0700 directory and unlinked at
// once, so it exists by its descriptor alone. What the installer verifies before it installs (a
// downloaded release, the copy of a local tarball) is written here, hashed on the way in, and read
// back through the same descriptor: no path that someone else could swap or rewrite lies between
// the checksum and the extraction.
import { constants } from 'node:fs';
import { mkdir, mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const FLAGS = constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** A fresh private directory in `workDir`, or in the system temp dir when workDir cannot be written. */
async function privateDir(workDir: string): Promise<string> {
  try {
    await mkdir(workDir, { recursive: true, mode: 0o700 });
    return await mkdtemp(join(workDir, 'private-'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // A plan run by a user who cannot write the data dir: the temp dir serves as well.
    if (code !== 'EACCES' && code !== 'EPERM' && code !== 'EROFS') throw err;
    return mkdtemp(join(tmpdir(), 'opencloud-private-'));
  }
}

/** An empty read-write file with no name (see the header); the caller closes it. */
export async function privateFile(workDir: string): Promise<FileHandle> {
  const dir = await privateDir(workDir);
  try {
    return await open(join(dir, 'file'), FLAGS, 0o600);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Writes all of buf at the handle's current position. */
export async function writeAll(fh: FileHandle, buf: Uint8Array): Promise<void> {
  for (let off = 0; off < buf.length;) off += (await fh.write(buf, off)).bytesWritten;
}
