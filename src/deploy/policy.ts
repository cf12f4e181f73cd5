// What `opencloud install` can put on a host, as a check on what the ledger says it did. The
// ledger lives in a database the unprivileged service user writes, and uninstall runs as root:
// reverting an artifact that install never makes (another path, a backup from elsewhere) would
// let that user have root delete or overwrite any file. So every recorded artifact must be one of
// these, and uninstall refuses to start otherwise.
import { isAbsolute, normalize } from 'node:path';
import type { Artifact } from '../installer/artifacts.js';
import { BUILDKIT_GROUP } from '../installer/components/buildkit-pins.js';
import { OpenCloudError } from '../errors.js';
import {
  CONFIG_DIR,
  CONFIG_FILE,
  LAUNCHER,
  PROGRAM_DIR,
  SERVICE_USER,
  SUDOERS_FILE,
  UNIT,
  UNIT_PATH,
} from './paths.js';

const FILES = new Set([CONFIG_FILE, UNIT_PATH, SUDOERS_FILE, LAUNCHER]);
const PRIOR_TREE = new RegExp(`^${PROGRAM_DIR.replace(/[/.]/g, '\\$&')}\\.previous-[0-9a-f]{8}$`);

const inside = (path: string, dir: string) =>
  isAbsolute(path) && normalize(path) === path && path.startsWith(`${dir}/`);

/** Why `a` is not something install makes, or undefined when it is. */
export function foreignArtifact(a: Artifact, backupDir: string): string | undefined {
  switch (a.kind) {
    case 'file':
      if (!FILES.has(a.path)) return `file ${a.path} is not one install writes`;
      if (a.prior && !inside(a.prior.backup, backupDir))
        return `backup ${a.prior.backup} is outside ${backupDir}`;
      return undefined;
    case 'directory':
      return a.path === CONFIG_DIR ? undefined : `directory ${a.path} is not one install makes`;
    case 'tree':
      if (a.path !== PROGRAM_DIR) return `tree ${a.path} is not ${PROGRAM_DIR}`;
      return a.prior && !PRIOR_TREE.test(a.prior)
        ? `tree backup ${a.prior} is not one install makes`
        : undefined;
    case 'package':
      return a.names.every((n) => n === 'sudo') ? undefined : `packages ${a.names.join(' ')} are not sudo`;
    case 'user':
      return a.name === SERVICE_USER ? undefined : `user ${a.name} is not ${SERVICE_USER}`;
    case 'membership':
      return a.user === SERVICE_USER && a.group === BUILDKIT_GROUP
        ? undefined
        : `membership ${a.user} in ${a.group}`;
    case 'service':
      return a.unit === UNIT ? undefined : `unit ${a.unit} is not ${UNIT}`;
    default:
      return `${a.kind} artifacts are never made by install`;
  }
}

export function checkArtifacts(artifacts: Artifact[], backupDir: string): void {
  const problems = artifacts.map((a) => foreignArtifact(a, backupDir)).filter((p) => p !== undefined);
  if (problems.length > 0)
    throw new OpenCloudError(
      `the ledger lists changes install never makes, so nothing was reverted: ${problems.join('; ')}`,
      {
        hint: 'the ledger database was edited outside OpenCloud; check the audit trail, then remove these by hand',
      },
    );
}
