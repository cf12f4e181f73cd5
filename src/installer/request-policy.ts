// What an install run asked for over the network may make root do, in one place for both ways
// such a run reaches root: the privileged helper (src/privileged/, run through sudo for a server
// that is not root) and the installer in the process of a server that runs as root
// (src/server/install-runs.ts). The CLI run by root is root acting itself and is not held to it.
//
// - A disable reverts what the ledger lists, and the ledger lives in a database the service user
//   can write: only artifacts this installer itself records pass. Packages included: the names
//   are exactly the `*_PACKAGE` facts of components/buildkit-pins.ts, the ones the steps install.
// - A sha256 is the only thing that ties the binary root runs as a daemon to a BuildKit release:
//   only the pinned release checksums pass, and those root listed in `installer.trustedSha256`.
// - A local tarball is opened once and checked on its descriptor (host/tarball-file.ts).
import type { FileHandle } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import type { Artifact } from './artifacts.js';
import * as pins from './components/buildkit-pins.js';
import { pidFileFor } from './host/direct.js';
import type { Reader } from './host/tarball-file.js';
import type { InstallOptions } from './options.js';

/** Why a requested run is refused (each with the HTTP status the server answers it with). */
export const POLICY_STATUS = {
  /** A checksum neither pinned nor trusted by root. */
  UNTRUSTED_SHA256: 403,
  /** The ledger lists something this installer never records. */
  LEDGER_ARTIFACT_REFUSED: 403,
  /** The tarball is missing, a link, not a regular file, too big or not readable by its owner. */
  TARBALL_REFUSED: 400,
} as const;
export type PolicyCode = keyof typeof POLICY_STATUS;

/** A requested run refused before anything started (nothing is recorded in the ledger). */
export class PolicyRefusal extends Error {
  constructor(
    readonly code: PolicyCode,
    message: string,
  ) {
    super(message);
    this.name = 'PolicyRefusal';
  }

  get status(): number {
    return POLICY_STATUS[this.code];
  }
}

/** What a run asked for over the network carries: the checks above, with root's own settings. */
export interface RequestedRun {
  /** Checksums root trusts besides the pins: `installer.trustedSha256` of root's configuration. */
  trustedSha256: readonly string[];
  /** Where that list is read from, as a refusal names it. */
  trustedIn: string;
  /** The tarball already opened by the caller (the helper opens it as the data dir's owner). */
  tarball?: FileHandle;
  /** Whom the tarball must be readable by (the data dir's owner), judged on the opened file. */
  reader?: Reader;
}

/** Every Debian package the installer installs: the `*_PACKAGE` facts (see buildkit-pins.ts). */
export const INSTALLER_PACKAGES: ReadonlySet<string> = new Set(
  Object.entries(pins)
    .filter(([name, value]) => name.endsWith('_PACKAGE') && typeof value === 'string')
    .map(([, value]) => value as string),
);

/** The files the installer writes, with the role it records for each. */
const FILES: Record<string, string> = {
  ...Object.fromEntries(pins.BINARIES.map((b) => [`${pins.BIN_DIR}/${b}`, 'binary'])),
  [pins.BUILDKIT_CONFIG]: 'config',
  [pins.CNI_CONFIG]: 'config',
  [pins.BUILDKIT_UNIT]: 'unit',
};
const DIRECTORIES = new Set(Object.keys(FILES).map((f) => dirname(f)));
const UNITS = new Set(['containerd.service', 'buildkit.service']);
const DAEMONS = new Set(['containerd', 'buildkitd']);

/** Where a run whose installer data dir is `dir` keeps backups of files it replaced. */
export const backupRootOf = (dir: string) => join(dir, 'installer', 'backups');

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

const pinned = new Set(Object.values(pins.PINNED_SHA256));

/** The first of `given` that is neither pinned nor trusted, or undefined. */
export function untrustedSha256(given: readonly string[], trusted: readonly string[]): string | undefined {
  const allowed = new Set([...pinned, ...trusted.map((t) => t.toLowerCase())]);
  return given.find((h) => !allowed.has(h.toLowerCase()));
}

/** The refusal of an untrusted checksum, naming the key that would allow it. */
export function untrustedMessage(sha256: string, trustedIn: string): string {
  return (
    `sha256 ${sha256} is neither a pinned BuildKit release checksum nor listed in ${trustedIn}: ` +
    'a host change asked for over the API installs only those (root adds it there, or installs the ' +
    `build at the console: \`sudo opencloud services enable container-registry --sha256 ${sha256} …\`)`
  );
}

function fileProblem(a: Record<string, unknown>, backupRoot: string): string | undefined {
  if (typeof a.path !== 'string' || FILES[a.path] === undefined)
    return `file ${JSON.stringify(a.path)} is not a file the installer writes`;
  if (a.role !== FILES[a.path]) return `file ${a.path} has role ${JSON.stringify(a.role)}`;
  if (a.prior === undefined) return undefined;
  if (!isObject(a.prior)) return `file ${a.path}: its backup record is not an object`;
  const { backup, mode } = a.prior;
  const root = backupRoot + '/';
  if (typeof backup !== 'string' || normalize(backup) !== backup || !backup.startsWith(root))
    return `file ${a.path}: its backup ${JSON.stringify(backup)} is not under ${root}`;
  // Restoring a file writable by others, or setuid, would hand root's file to someone else.
  if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 0o755 || (mode & 0o022) !== 0)
    return `file ${a.path}: backup mode ${String(mode)} is not a mode the installer restores (at most 0755)`;
  return undefined;
}

function packageProblem(names: unknown): string | undefined {
  if (!Array.isArray(names)) return `package names ${JSON.stringify(names)} are not a list`;
  const foreign = names.filter((n) => typeof n !== 'string' || !INSTALLER_PACKAGES.has(n));
  if (foreign.length === 0) return undefined;
  return (
    `packages ${JSON.stringify(foreign)} are not packages the installer installs ` +
    `(${[...INSTALLER_PACKAGES].join(', ')})`
  );
}

/**
 * Why root may not revert this artifact for a requested run, or undefined when it is one this
 * installer records. `backupRoot`: where that run's installer keeps its backups.
 */
export function artifactProblem(a: unknown, backupRoot: string): string | undefined {
  if (!isObject(a)) return 'an artifact is not an object';
  switch (a.kind) {
    case 'file':
      return fileProblem(a, backupRoot);
    case 'directory':
      return typeof a.path === 'string' && DIRECTORIES.has(a.path)
        ? undefined
        : `directory ${JSON.stringify(a.path)} is not one the installer creates`;
    case 'package':
      return packageProblem(a.names);
    case 'group':
      return a.name === pins.BUILDKIT_GROUP
        ? undefined
        : `group ${JSON.stringify(a.name)} is not ${pins.BUILDKIT_GROUP}`;
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

/** Every artifact a requested run may not revert, each with its reason. */
export function artifactProblems(artifacts: readonly unknown[], backupRoot: string): string[] {
  return artifacts.flatMap((a) => artifactProblem(a, backupRoot) ?? []);
}

/** The refusal of a disable whose ledger lists artifacts outside the policy. */
export function ledgerMessage(problems: string[]): string {
  return (
    `the ledger lists what this installer never records, so nothing is reverted for a request: ${problems.join('; ')}` +
    ' (if that is really yours, disable as root: `sudo opencloud services disable container-registry`)'
  );
}

/**
 * Refuses a requested run (PolicyRefusal) whose checksum is not pinned or trusted, or, for a
 * disable, whose ledger lists anything this installer does not record. `artifacts` are the very
 * ones the run will revert (read once: a ledger changed after this check is not the one reverted).
 */
export function checkRequested(
  action: 'plan' | 'enable' | 'disable',
  opts: InstallOptions,
  artifacts: readonly Artifact[],
  req: RequestedRun,
): void {
  const bad = opts.sha256 === undefined ? undefined : untrustedSha256([opts.sha256], req.trustedSha256);
  if (bad !== undefined) throw new PolicyRefusal('UNTRUSTED_SHA256', untrustedMessage(bad, req.trustedIn));
  if (action !== 'disable') return;
  const problems = artifactProblems(artifacts, backupRootOf(opts.dataDir));
  if (problems.length > 0) throw new PolicyRefusal('LEDGER_ARTIFACT_REFUSED', ledgerMessage(problems));
}
