// Install steps that prepare the host: preflight, sudo, the service account, its buildkit
// membership and the data directory.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BUILDKIT_GROUP } from '../installer/components/buildkit-pins.js';
import { groupId, groupMembers, userInfo } from '../installer/host/accounts.js';
import { aptInstall, installedVersion } from '../installer/host/apt.js';
import { atomicWrite } from '../installer/host/atomic-write.js';
import { mustExec } from '../installer/host/exec.js';
import { systemdIsPid1 } from '../installer/host/systemd.js';
import { StepError, type PlannedChange, type Step } from '../installer/types.js';
import { SERVICE_USER } from './paths.js';
import { sourceManifest, type TreeManifest } from './program-tree.js';
import type { DeployOptions } from './options.js';

export async function serviceUser() {
  const u = await userInfo(SERVICE_USER);
  if (!u) throw new StepError(`user ${SERVICE_USER} does not exist (the account step should have made it)`);
  return u;
}

export function preflight(o: DeployOptions, manifest: { value?: TreeManifest }): Step {
  return {
    id: 'preflight',
    title: 'preflight: root, systemd, node, the program to install (read-only)',
    async plan() {
      if (process.getuid?.() !== 0)
        throw new StepError('opencloud install changes the host and must run as root');
      if (!systemdIsPid1())
        throw new StepError(
          'systemd is not running as PID 1 here (/run/systemd/system is missing): opencloud install sets up a systemd service',
          'on a host without systemd, run `opencloud serve` under your own supervisor',
        );
      const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
      if (major < 20 || (major === 20 && minor < 19))
        throw new StepError(
          `node ${process.versions.node} at ${o.node} is too old; OpenCloud needs >= 20.19`,
        );
      const blocker = await notADirectory(o.dataDir);
      if (blocker)
        throw new StepError(
          `data dir ${o.dataDir} cannot be used: ${blocker} is a file, not a directory`,
          'pass --data-dir naming a directory (it is created when missing)',
        );
      manifest.value = await sourceManifest(o.source);
      return [];
    },
    apply: async () => 'unchanged',
  };
}

/** The first part of `path` that exists but is not a directory (read-only: nothing is created). */
async function notADirectory(path: string): Promise<string | undefined> {
  let at = '';
  for (const part of path.split('/').filter(Boolean)) {
    at += `/${part}`;
    const s = await stat(at).catch(() => undefined);
    if (!s) return undefined; // the rest is created by the data-dir step
    if (!s.isDirectory()) return at;
  }
  return undefined;
}

export function sudoPackage(o: DeployOptions): Step {
  return {
    id: 'sudo-package',
    title: 'sudo (the privileged path for host changes requested through the API)',
    async plan() {
      return (await installedVersion('sudo')) ? [] : [{ kind: 'package', target: 'sudo', action: 'install' }];
    },
    async apply(ctx) {
      const added = await aptInstall(['sudo'], { lockTimeout: o.lockTimeout, onLine: ctx.log });
      ctx.record({ kind: 'package', names: added });
    },
  };
}

export function account(o: DeployOptions): Step {
  return {
    id: 'account',
    title: `system user and group ${SERVICE_USER} (no login shell, home ${o.dataDir})`,
    async plan() {
      return (await userInfo(SERVICE_USER)) ? [] : [{ kind: 'user', target: SERVICE_USER, action: 'create' }];
    },
    async apply(ctx) {
      await mustExec('useradd', [
        '--system',
        '--user-group',
        '--home-dir',
        o.dataDir,
        '--no-create-home',
        '--shell',
        '/usr/sbin/nologin',
        '--comment',
        'OpenCloud Container Registry',
        SERVICE_USER,
      ]);
      ctx.record({ kind: 'user', name: SERVICE_USER });
    },
  };
}

/** The buildkit group (shared with the container-registry service, so kept on uninstall) and membership. */
export function buildkitAccess(): Step {
  return {
    id: 'membership',
    title: `${SERVICE_USER} in group ${BUILDKIT_GROUP} (read and write on the BuildKit socket)`,
    async plan() {
      const changes: PlannedChange[] = [];
      if ((await groupId(BUILDKIT_GROUP)) === undefined)
        changes.push({ kind: 'group', target: BUILDKIT_GROUP, action: 'create' });
      if (!(await groupMembers(BUILDKIT_GROUP)).includes(SERVICE_USER))
        changes.push({
          kind: 'membership',
          target: `${SERVICE_USER} in ${BUILDKIT_GROUP}`,
          action: 'create',
        });
      return changes;
    },
    async apply(ctx) {
      if ((await groupId(BUILDKIT_GROUP)) === undefined) {
        // Made now so membership does not depend on the order services are enabled in; not
        // recorded: the container-registry service uses it too, and a group with members is kept.
        await mustExec('groupadd', ['--system', BUILDKIT_GROUP]);
        ctx.log(
          `created group ${BUILDKIT_GROUP} (shared with the container-registry service; kept on uninstall)`,
        );
      }
      if (!(await groupMembers(BUILDKIT_GROUP)).includes(SERVICE_USER)) {
        await mustExec('usermod', ['--append', '--groups', BUILDKIT_GROUP, SERVICE_USER]);
        ctx.record({ kind: 'membership', user: SERVICE_USER, group: BUILDKIT_GROUP });
      }
    },
    async verify() {
      if (!(await groupMembers(BUILDKIT_GROUP)).includes(SERVICE_USER))
        throw new StepError(`${SERVICE_USER} is still not a member of ${BUILDKIT_GROUP}`);
    },
  };
}

/** The data dir: 0750 and owned by the service user; kept on uninstall (removed by --purge). */
export function dataDir(o: DeployOptions): Step {
  const keyFile = join(o.dataDir, 'auth', 'token.key');
  return {
    id: 'data-dir',
    title: `data directory ${o.dataDir} (0750, owned by ${SERVICE_USER}) and a fresh token signing key`,
    async plan() {
      const changes: PlannedChange[] = [];
      const u = await userInfo(SERVICE_USER);
      const st = await stat(o.dataDir).catch(() => undefined);
      if (!st) changes.push({ kind: 'directory', target: o.dataDir, action: 'create' });
      else if ((st.mode & 0o7777) !== 0o750 || !u || st.uid !== u.uid || st.gid !== u.gid)
        changes.push({
          kind: 'directory',
          target: o.dataDir,
          action: 'update',
          detail: `owner ${SERVICE_USER}:${SERVICE_USER}, mode 750 (now uid ${st.uid}, gid ${st.gid}, mode ${(st.mode & 0o7777).toString(8)})`,
        });
      if (!existsSync(keyFile))
        changes.push({ kind: 'file', target: keyFile, action: 'create', detail: '32 random bytes, 0600' });
      return changes;
    },
    async apply(ctx) {
      const u = await serviceUser();
      const st = await stat(o.dataDir).catch(() => undefined);
      if (!st) await mkdir(o.dataDir, { recursive: true, mode: 0o750 });
      else if (st.uid !== u.uid) {
        // A data dir kept from an earlier install (its user since re-created with another uid).
        await mustExec('chown', ['-R', `${u.uid}:${u.gid}`, o.dataDir]);
        ctx.log(`gave ${o.dataDir} and everything in it to ${SERVICE_USER}`);
      }
      await chown(o.dataDir, u.uid, u.gid);
      await chmod(o.dataDir, 0o750);
      if (!existsSync(keyFile)) {
        await mkdir(join(o.dataDir, 'auth'), { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'EEXIST') throw e;
        });
        await chown(join(o.dataDir, 'auth'), u.uid, u.gid);
        await atomicWrite(keyFile, randomBytes(32), { mode: 0o600, uid: u.uid, gid: u.gid });
      }
    },
  };
}
