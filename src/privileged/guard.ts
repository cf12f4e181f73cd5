// What the helper checks on the host before it acts as root on something the unprivileged side
// controls. The ledger lives in a database the service user can write, so a disable (which
// reverts the artifacts the ledger lists) only accepts the artifacts the installer itself
// creates, with backups from the helper's root-only directory; and a tarball must be a regular
// file the data dir's owner could read (root reads it, so it must not become a way to read or
// block on files that owner cannot).
import { constants, type Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import type { Artifact } from '../installer/artifacts.js';
import {
  BIN_DIR,
  BINARIES,
  BUILDKIT_CONFIG,
  BUILDKIT_GROUP,
  BUILDKIT_UNIT,
} from '../installer/components/buildkit-pins.js';
import { pidFileFor } from '../installer/host/direct.js';

/** The files the installer writes, with the role it records for each. */
const FILES: Record<string, string> = {
  ...Object.fromEntries(BINARIES.map((b) => [`${BIN_DIR}/${b}`, 'binary'])),
  [BUILDKIT_CONFIG]: 'config',
  [BUILDKIT_UNIT]: 'unit',
};
const DIRECTORIES = new Set(Object.keys(FILES).map((f) => dirname(f)));
const UNITS = new Set(['containerd.service', 'buildkit.service']);
const DAEMONS = new Set(['containerd', 'buildkitd']);
/** A Debian package name (policy 5.6.1), optionally with an architecture: never an apt option. */
const PACKAGE = /^[a-z0-9][a-z0-9+.-]+(?::[a-z0-9-]+)?$/;

/** Where backups of files the helper's runs replaced are kept (root-only, outside the data dir). */
export const backupRoot = (installerDir: string) => join(installerDir, 'installer', 'backups');

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

function fileProblem(a: Record<string, unknown>, installerDir: string): string | undefined {
  if (typeof a.path !== 'string' || FILES[a.path] === undefined)
    return `file ${JSON.stringify(a.path)} is not a file the installer writes`;
  if (a.role !== FILES[a.path]) return `file ${a.path} has role ${JSON.stringify(a.role)}`;
  if (a.prior === undefined) return undefined;
  if (!isObject(a.prior)) return `file ${a.path}: its backup record is not an object`;
  const { backup, mode } = a.prior;
  const root = backupRoot(installerDir) + '/';
  if (typeof backup !== 'string' || normalize(backup) !== backup || !backup.startsWith(root))
    return `file ${a.path}: its backup ${JSON.stringify(backup)} is not under ${root}`;
  // Restoring a file writable by others, or setuid, would hand root's file to someone else.
  if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 0o755 || (mode & 0o022) !== 0)
    return `file ${a.path}: backup mode ${String(mode)} is not a mode the helper restores (at most 0755)`;
  return undefined;
}

/** Why the artifact may not be reverted by root, or undefined when it is the installer's own. */
export function artifactProblem(a: unknown, installerDir: string): string | undefined {
  if (!isObject(a)) return 'an artifact is not an object';
  switch (a.kind) {
    case 'file':
      return fileProblem(a, installerDir);
    case 'directory':
      return typeof a.path === 'string' && DIRECTORIES.has(a.path)
        ? undefined
        : `directory ${JSON.stringify(a.path)} is not one the installer creates`;
    case 'package':
      return Array.isArray(a.names) && a.names.every((n) => typeof n === 'string' && PACKAGE.test(n))
        ? undefined
        : `package names ${JSON.stringify(a.names)} are not all Debian package names`;
    case 'group':
      return a.name === BUILDKIT_GROUP
        ? undefined
        : `group ${JSON.stringify(a.name)} is not ${BUILDKIT_GROUP}`;
    case 'service':
      return typeof a.unit === 'string' && UNITS.has(a.unit)
        ? undefined
        : `unit ${JSON.stringify(a.unit)} is not one the installer manages`;
    case 'process':
      return typeof a.name === 'string' && DAEMONS.has(a.name) && a.pidFile === pidFileFor(a.name)
        ? undefined
        : `process ${JSON.stringify(a.name)} (${JSON.stringify(a.pidFile)}) is not a daemon the installer starts`;
    default:
      // `user`, `membership`, `tree`: what `opencloud install` records, never this service.
      return `artifact kind ${JSON.stringify(a.kind)} is not one the container-registry installer records`;
  }
}

/** Every artifact the helper would refuse to revert, each with its reason. */
export function artifactProblems(artifacts: Artifact[], installerDir: string): string[] {
  return artifacts.flatMap((a) => artifactProblem(a, installerDir) ?? []);
}

type Perm = 'read' | 'search';
const BITS = {
  read: [constants.S_IRUSR, constants.S_IRGRP, constants.S_IROTH],
  search: [constants.S_IXUSR, constants.S_IXGRP, constants.S_IXOTH],
} as const;

/**
 * Could uid/gid read (a file) or search (a directory) with these stats? Owner, then group, then
 * other bits, as the kernel decides; supplementary groups are not known here and not counted.
 */
export function allowedFor(
  st: Pick<Stats, 'uid' | 'gid' | 'mode'>,
  uid: number,
  gid: number,
  perm: Perm = 'read',
): boolean {
  if (uid === 0) return true;
  const [user, group, other] = BITS[perm];
  if (st.uid === uid) return (st.mode & user) !== 0;
  if (st.gid === gid) return (st.mode & group) !== 0;
  return (st.mode & other) !== 0;
}

/** Why root may not read the tarball for this owner, or undefined. */
export async function tarballProblem(
  path: string,
  owner: { uid: number; gid: number },
): Promise<string | undefined> {
  let st: Stats;
  try {
    st = await stat(path);
  } catch (err) {
    return `tarball ${path} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  }
  if (!st.isFile()) return `tarball ${path} is not a regular file`;
  const denied = `tarball ${path} is not readable by uid ${owner.uid} (the data dir's owner); make it readable to them`;
  if (!allowedFor(st, owner.uid, owner.gid)) return denied;
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    if (!allowedFor(await stat(dir), owner.uid, owner.gid, 'search')) return denied;
    if (dir === dirname(dir)) return undefined;
  }
}
