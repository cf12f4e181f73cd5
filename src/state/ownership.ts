// Keeps the data dir its owner's while the helper works in it as root. The state database is
// opened (and closed) with the effective uid/gid of the data dir's owner, so SQLite's files are
// created as that user and a symlink planted as state.db-wal cannot point root's writes
// elsewhere; afterwards anything at the data dir's top level still owned by root is handed back.
// Nothing happens when the data dir belongs to root (a checkout run as root, or a root install).
import { constants, type Stats } from 'node:fs';
import { lstat, open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { openSqliteState } from './sqlite.js';
import type { StateStore } from './store.js';

export interface Owner {
  uid: number;
  gid: number;
}

export async function ownerOf(dir: string): Promise<Owner> {
  const st = await stat(dir);
  return { uid: st.uid, gid: st.gid };
}

/** True when the helper runs as root for a data dir someone else owns. */
const switching = (owner: Owner) => process.getuid?.() === 0 && owner.uid !== 0;

/**
 * Runs `fn` with the owner's effective uid and gid (and no supplementary groups), then returns to
 * root. Process-wide: call it only while nothing else runs (the helper does one thing at a time).
 */
export async function asOwner<T>(owner: Owner, fn: () => Promise<T>): Promise<T> {
  if (!switching(owner)) return fn();
  const groups = process.getgroups?.() ?? [];
  process.setgroups?.([owner.gid]);
  process.setegid?.(owner.gid);
  process.seteuid?.(owner.uid);
  try {
    return await fn();
  } finally {
    process.seteuid?.(0);
    process.setegid?.(0);
    process.setgroups?.(groups);
  }
}

/**
 * Gives root-owned regular files and directories directly in `dataDir` back to its owner; returns
 * their names. Each is opened without following symlinks and changed through that descriptor, so
 * an entry swapped after the check is never the one changed; hard-linked files are left alone (a
 * link to a file elsewhere must not change that file). The installer's own files are not here:
 * the helper keeps them in its root-only directory, so no deeper walk is needed (walking a tree
 * another user can rearrange, as root, is how chown races are made).
 */
export async function restoreOwnership(dataDir: string, owner: Owner): Promise<string[]> {
  if (!switching(owner)) return [];
  const changed: string[] = [];
  for (const name of await readdir(dataDir)) {
    // installer/ holds backups of system files that a root run restores: never the owner's.
    if (name === 'installer') continue;
    const path = join(dataDir, name);
    const before = await lstat(path).catch(() => undefined);
    if (!before || before.uid !== 0 || !(before.isFile() || before.isDirectory())) continue;
    const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(
      () => undefined,
    );
    if (!fh) continue;
    try {
      const st: Stats = await fh.stat();
      const same = st.ino === before.ino && st.dev === before.dev;
      const eligible = st.isDirectory() || (st.isFile() && st.nlink === 1);
      if (same && eligible && st.uid === 0) {
        await fh.chown(owner.uid, owner.gid);
        changed.push(name);
      }
    } finally {
      await fh.close();
    }
  }
  return changed;
}

/**
 * The state store of `dataDir`, opened as its owner when root runs a command on an installed
 * host (`opencloud users add`, `services enable`, `ledger apply`): SQLite's files stay the
 * server's, so it can still write them after root was here.
 */
export async function openStateAsOwner(dataDir: string): Promise<StateStore> {
  const owner = await ownerOf(dataDir).catch(() => undefined);
  if (!owner) return openSqliteState(dataDir);
  const state = await asOwner(owner, () => openSqliteState(dataDir));
  await restoreOwnership(dataDir, owner);
  return state;
}
