// A step that makes one file (a config, a systemd unit) have exactly the wanted content and mode.
// Compared on every run: a file that differs is rewritten (never "only if missing"), with a
// unified diff in the plan; the journal restores the previous bytes and mode, or removes a file
// that was not there.
import { createTwoFilesPatch } from 'diff';
import { readFile, rm, stat } from 'node:fs/promises';
import type { PlannedChange, Step, StepContext } from '../types.js';
import { StepError } from '../types.js';
import { atomicWrite } from './atomic-write.js';

export interface ManagedFileSpec {
  id: string;
  title: string;
  path: string;
  content: string;
  mode: number;
  kind?: 'file' | 'unit';
  /** Called after the file changed (e.g. to note that systemd needs a daemon-reload). */
  onChange?: () => void;
}

interface Current {
  content: Buffer;
  mode: number;
}

async function current(path: string): Promise<Current | undefined> {
  try {
    const [content, st] = await Promise.all([readFile(path), stat(path)]);
    return { content, mode: st.mode & 0o7777 };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export function managedFile(spec: ManagedFileSpec): Step {
  const kind = spec.kind ?? 'file';
  return {
    id: spec.id,
    title: spec.title,
    async plan(): Promise<PlannedChange[]> {
      const now = await current(spec.path);
      if (now && now.content.toString('utf8') === spec.content && now.mode === spec.mode) return [];
      const before = now?.content.toString('utf8') ?? '';
      const diff = createTwoFilesPatch(
        now ? spec.path : '/dev/null',
        spec.path,
        before,
        spec.content,
        undefined,
        now && now.mode !== spec.mode
          ? `mode ${spec.mode.toString(8)} (was ${now.mode.toString(8)})`
          : undefined,
      );
      return [{ kind, target: spec.path, action: now ? 'update' : 'create', diff }];
    },
    async apply(ctx: StepContext): Promise<void> {
      const before = await current(spec.path);
      await atomicWrite(spec.path, spec.content, { mode: spec.mode });
      ctx.journal.record(before ? `restore ${spec.path}` : `remove ${spec.path}`, async () => {
        if (before) await atomicWrite(spec.path, before.content, { mode: before.mode });
        else await rm(spec.path, { force: true });
      });
      spec.onChange?.();
    },
    async verify(): Promise<void> {
      const now = await current(spec.path);
      if (!now || now.content.toString('utf8') !== spec.content) {
        throw new StepError(`${spec.path} does not hold the content just written`);
      }
    },
  };
}
