// What the helper checks on the host before it acts as root on something the unprivileged side
// controls. The rules themselves are the installer's request policy (src/installer/
// request-policy.ts), the same a server running as root applies; here they meet the helper's
// own places: its root-only installer directory (backups), the tarball opened with the data dir
// owner's identity (the kernel judges every directory on the way, at the one open), and the
// config file the trusted checksums come from, which only root may be able to change.
import { realpath, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Artifact } from '../installer/artifacts.js';
import { openTarball, TarballError } from '../installer/host/tarball-file.js';
import { artifactProblem as policyProblem, backupRootOf } from '../installer/request-policy.js';
import { asOwner, type Owner } from '../state/ownership.js';

/**
 * Why the artifact may not be reverted by root, or undefined when it is the installer's own. Backups
 * of files the helper's runs replaced live under its root-only installer directory.
 */
export function artifactProblem(a: unknown, installerDir: string): string | undefined {
  return policyProblem(a, backupRootOf(installerDir));
}

/** Every artifact the helper would refuse to revert, each with its reason. */
export function artifactProblems(artifacts: Artifact[], installerDir: string): string[] {
  return artifacts.flatMap((a) => artifactProblem(a, installerDir) ?? []);
}

/**
 * The tarball, opened once as the data dir's owner (so root reads nothing that owner could not)
 * and checked on that descriptor; a string saying why when it is refused.
 */
export async function openOwnersTarball(path: string, owner: Owner): Promise<FileHandle | string> {
  try {
    return await asOwner(owner, () => openTarball(path, owner));
  } catch (err) {
    if (err instanceof TarballError) return err.message;
    throw err;
  }
}

const describeOwner = (uid: number, gid: number, mode: number) =>
  `owner uid ${uid}, group gid ${gid}, mode ${(mode & 0o7777).toString(8).padStart(4, '0')}`;

/**
 * Why someone other than root could change what `path` says (the file, or a directory on the way
 * to it, is not root's or is writable by group or others), or undefined. A sticky directory of
 * root's (like /tmp) passes: others cannot rename or remove root's entries in it.
 */
export async function rootOnlyProblem(path: string): Promise<string | undefined> {
  const real = await realpath(path);
  const chain = new Set<string>([real]);
  for (const start of [real, path]) {
    for (let dir = dirname(start); ; dir = dirname(dir)) {
      chain.add(dir);
      if (dir === dirname(dir)) break;
    }
  }
  for (const p of chain) {
    const st = await stat(p);
    const sticky = st.isDirectory() && (st.mode & 0o1000) !== 0;
    if (st.uid !== 0 || ((st.mode & 0o022) !== 0 && !sticky))
      return `${p} can be changed by others than root (${describeOwner(st.uid, st.gid, st.mode)})`;
  }
  return undefined;
}
