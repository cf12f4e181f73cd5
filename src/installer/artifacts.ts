// What an install run put on the host, as data. Each change a step makes is recorded as an
// artifact; the same `revert` undoes it when a run fails (rollback, from the in-memory journal)
// and when the service is disabled (from the ledger). One undo path, so `disable` removes exactly
// what a run created and restores what it replaced.
import { existsSync } from 'node:fs';
import { readFile, rename, rm, rmdir } from 'node:fs/promises';
import { aptPurge } from './host/apt.js';
import { atomicWrite } from './host/atomic-write.js';
import { exec, mustExec } from './host/exec.js';
import { stopDaemon } from './host/direct.js';
import { groupMembers } from './host/accounts.js';

export type Artifact =
  /** A file we wrote; `prior` is a backup of what it replaced (restored on revert). */
  | {
      kind: 'file';
      role: 'config' | 'unit' | 'binary';
      path: string;
      prior?: { backup: string; mode: number };
    }
  | { kind: 'directory'; path: string }
  | { kind: 'package'; names: string[] }
  | { kind: 'group'; name: string }
  /** A system user we created (its home, the data dir, is kept). */
  | { kind: 'user'; name: string }
  /** A user we added to a group that already existed. */
  | { kind: 'membership'; user: string; group: string }
  /** A directory tree we installed whole (the program); `prior` is the tree it replaced, moved aside. */
  | { kind: 'tree'; path: string; prior?: string }
  /** A systemd unit we enabled and/or started (only what was not so before). */
  | { kind: 'service'; unit: string; enabled: boolean; started: boolean }
  /** A daemon started in direct mode. */
  | { kind: 'process'; name: string; pidFile: string };

/** Identity of an artifact: a later run touching the same thing keeps the first record. */
export function artifactKey(a: Artifact): string {
  switch (a.kind) {
    case 'file':
    case 'directory':
      return `${a.kind}:${a.path}`;
    case 'package':
      return `package:${[...a.names].sort().join(',')}`;
    case 'group':
      return `group:${a.name}`;
    case 'user':
      return `user:${a.name}`;
    case 'membership':
      return `membership:${a.user}:${a.group}`;
    case 'tree':
      return `tree:${a.path}`;
    case 'service':
      return `service:${a.unit}`;
    case 'process':
      return `process:${a.name}`;
  }
}

export function describeArtifact(a: Artifact): string {
  switch (a.kind) {
    case 'file':
      return a.prior ? `restore ${a.path}` : `remove ${a.path}`;
    case 'directory':
      return `remove directory ${a.path} (if empty)`;
    case 'package':
      return `purge package ${a.names.join(' ')}`;
    case 'group':
      return `delete group ${a.name} (kept while it has members)`;
    case 'user':
      return `delete user ${a.name}`;
    case 'membership':
      return `remove ${a.user} from group ${a.group}`;
    case 'tree':
      return a.prior ? `restore ${a.path} from ${a.prior}` : `remove ${a.path}`;
    case 'service':
      return [a.started && `stop ${a.unit}`, a.enabled && `disable ${a.unit}`].filter(Boolean).join(', ');
    case 'process':
      return `stop ${a.name} (${a.pidFile})`;
  }
}

export async function revert(a: Artifact): Promise<void> {
  switch (a.kind) {
    case 'file':
      if (a.prior) {
        await atomicWrite(a.path, await readFile(a.prior.backup), { mode: a.prior.mode });
        await rm(a.prior.backup, { force: true });
      } else {
        await rm(a.path, { force: true });
      }
      if (a.role === 'unit' && existsSync('/run/systemd/system'))
        await mustExec('systemctl', ['daemon-reload']);
      return;
    case 'directory':
      await rmdir(a.path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT' && err.code !== 'ENOTEMPTY') throw err;
      });
      return;
    case 'package':
      // The dependencies apt pulled in for them go too (aptPurge): the ledger names only these.
      await aptPurge(a.names, { lockTimeout: 60 });
      return;
    case 'group': {
      // A group someone was added to since (e.g. the opencloud user to buildkit) is still in use.
      if ((await groupMembers(a.name)).length > 0) return;
      const r = await exec('groupdel', [a.name]);
      if (r.code !== 0 && r.code !== 6) await mustExec('groupdel', [a.name]); // 6: no such group
      return;
    }
    case 'user': {
      const r = await exec('userdel', [a.name]);
      if (r.code !== 0 && r.code !== 6) await mustExec('userdel', [a.name]); // 6: no such user
      return;
    }
    case 'membership': {
      const r = await exec('gpasswd', ['-d', a.user, a.group]);
      // 3: no such user/group, or not a member: nothing left to undo
      if (r.code !== 0 && r.code !== 3) await mustExec('gpasswd', ['-d', a.user, a.group]);
      return;
    }
    case 'tree':
      await rm(a.path, { recursive: true, force: true });
      if (a.prior && existsSync(a.prior)) await rename(a.prior, a.path);
      return;
    case 'service':
      if (a.started) {
        await mustExec('systemctl', ['stop', a.unit]);
        // A daemon that exits non-zero on SIGTERM leaves the unit "failed"; forget that state too.
        await exec('systemctl', ['reset-failed', a.unit]);
      }
      if (a.enabled) await mustExec('systemctl', ['disable', a.unit]);
      return;
    case 'process':
      await stopDaemon(a.pidFile, a.name);
      return;
  }
}
