// sha256 of installed files, remembered while the file stays the same (inode, size, mtime): one
// run asks for the same binaries' hashes in preflight, plan and verify, and each is ~50 MB.
import { stat } from 'node:fs/promises';
import { sha256File } from './download.js';

const known = new Map<string, { key: string; sha256: string }>();

/** The file's sha256, or undefined when it does not exist. */
export async function installedHash(path: string): Promise<string | undefined> {
  const st = await stat(path).catch(() => undefined);
  if (!st) return undefined;
  const key = `${st.ino}:${st.size}:${st.mtimeMs}`;
  const hit = known.get(path);
  if (hit?.key === key) return hit.sha256;
  const sha256 = await sha256File(path).catch(() => undefined);
  if (sha256 !== undefined) known.set(path, { key, sha256 });
  return sha256;
}
