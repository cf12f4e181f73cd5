// A step that makes one file (a config, a systemd unit) have exactly the wanted content and mode.
// Compared on every run: a file that differs is rewritten (never "only if missing"), with a
// unified diff in the plan. What it replaced is backed up, so rollback and `disable` restore the
// previous bytes and mode, or remove a file (and a directory) that was not there.
import { createTwoFilesPatch } from 'diff';
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { PlannedChange, Step, StepContext } from '../types.js';
import { StepError } from '../types.js';
import { atomicWrite } from './atomic-write.js';
import { groupId } from './accounts.js';

export interface ManagedFileSpec {
  id: string;
  title: string;
  path: string;
  content: string;
  mode: number;
  role: 'config' | 'unit' | 'binary';
  /** Owned by root and this group (a config the service user may read, not write). */
  group?: string;
}

interface Current {
  content: Buffer;
  mode: number;
  gid: number;
}

async function current(path: string): Promise<Current | undefined> {
  try {
    const [content, st] = await Promise.all([readFile(path), stat(path)]);
    return { content, mode: st.mode & 0o7777, gid: st.gid };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export function managedFile(spec: ManagedFileSpec): Step {
  const kind = spec.role === 'unit' ? 'unit' : spec.role === 'binary' ? 'binary' : 'file';
  const wantedGid = async () => (spec.group ? await groupId(spec.group) : 0);
  return {
    id: spec.id,
    title: spec.title,
    async plan(): Promise<PlannedChange[]> {
      const now = await current(spec.path);
      const gid = await wantedGid();
      const sameOwner = !spec.group || (gid !== undefined && now?.gid === gid);
      if (now && now.content.toString('utf8') === spec.content && now.mode === spec.mode && sameOwner)
        return [];
      const before = now?.content.toString('utf8') ?? '';
      const diff = createTwoFilesPatch(
        now ? spec.path : '/dev/null',
        spec.path,
        before,
        spec.content,
        undefined,
        [
          now && now.mode !== spec.mode && `mode ${spec.mode.toString(8)} (was ${now.mode.toString(8)})`,
          !sameOwner && `group ${spec.group}`,
        ]
          .filter(Boolean)
          .join(', ') || undefined,
      );
      return [{ kind, target: spec.path, action: now ? 'update' : 'create', diff }];
    },
    async apply(ctx: StepContext): Promise<void> {
      const dir = dirname(spec.path);
      if (!existsSync(dir)) {
        await mkdir(dir, { recursive: true, mode: 0o755 });
        ctx.record({ kind: 'directory', path: dir });
      }
      const prior = await ctx.backup(spec.path);
      const gid = await wantedGid();
      if (gid === undefined) throw new StepError(`group ${spec.group} does not exist`);
      await atomicWrite(spec.path, spec.content, { mode: spec.mode, ...(spec.group ? { uid: 0, gid } : {}) });
      ctx.record({ kind: 'file', role: spec.role, path: spec.path, ...(prior ? { prior } : {}) });
    },
    async verify(): Promise<void> {
      const now = await current(spec.path);
      if (!now || now.content.toString('utf8') !== spec.content) {
        throw new StepError(`${spec.path} does not hold the content just written`);
      }
    },
  };
}
