// The data dir probe, shared by start-up and `doctor`. Kept apart from the daemon checks so the
// server's start-up does not load the gRPC stack just to check a directory.
import { randomBytes } from 'node:crypto';
import { mkdir, open, unlink } from 'node:fs/promises';
import { join } from 'node:path';

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
