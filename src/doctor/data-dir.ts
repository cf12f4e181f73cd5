// The data dir probe, shared by start-up, the CLI commands that keep state and `doctor`. Kept apart
// from the daemon checks so the server's start-up does not load the gRPC stack just to check a
// directory.
import { randomBytes } from 'node:crypto';
import { mkdir, open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { DataDirError } from '../errors.js';

/** Writes, fsyncs and removes a probe file: the same operations blob storage needs. */
export async function probeDataDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const probe = join(dir, `.probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  const fh = await open(probe, 'wx', 0o600);
  try {
    await fh.writeFile('ok');
    await fh.sync();
  } finally {
    await fh.close();
    await unlink(probe).catch(() => undefined);
  }
}

const REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'the file system is read-only',
  ENOTDIR: 'a part of the path is a file, not a directory',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is used up',
};

/**
 * Creates the data dir when missing and checks it can be written, before any state is opened: a
 * directory a command cannot use is one line naming it, the reason and the fix (exit 73), not a
 * stack trace from deep in mkdir or SQLite.
 */
export async function usableDataDir(dir: string): Promise<void> {
  try {
    await probeDataDir(dir);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const reason = (e.code && REASONS[e.code]) ?? e.message;
    const where =
      e.path && e.path !== dir && !e.path.startsWith(join(dir, '.probe-')) ? ` (at ${e.path})` : '';
    throw new DataDirError(`data dir ${dir} cannot be used: ${reason}${where}`, {
      hint: 'pass --data-dir DIR (or OPENCLOUD_DATA_DIR) naming a directory this user can write, or run as its owner',
      cause: err,
    });
  }
}
