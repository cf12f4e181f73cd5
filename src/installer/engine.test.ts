import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { recapLine, runSteps } from './engine.js';
import { managedFile } from './host/managed-file.js';
import { acquireLock, InstallerBusyError } from './lock.js';
import type { InstallerEvent, Step } from './types.js';
import { StepError } from './types.js';

function fixture() {
  const dir = mkdtempSync(join(tmpdir(), 'opencloud-installer-'));
  const existing = join(dir, 'existing.toml');
  writeFileSync(existing, 'old = true\n', { mode: 0o600 });
  const steps = [
    managedFile({
      id: 'config',
      title: 'write config',
      path: existing,
      content: 'new = true\n',
      mode: 0o644,
      role: 'config',
    }),
    managedFile({
      id: 'unit',
      title: 'write unit',
      path: join(dir, 'units/x.service'),
      content: '[Unit]\n',
      mode: 0o644,
      role: 'unit',
    }),
  ];
  return { dir, existing, steps, opts: { backupDir: join(dir, 'backups') } };
}

const failing: Step = {
  id: 'start',
  title: 'start the daemon',
  plan: async () => [{ kind: 'service', target: 'x', action: 'start' }],
  apply: async () => {
    throw new StepError('x.service failed to start', 'x: exited with status 1');
  },
};

describe('installer engine', () => {
  it('applies, verifies, and a second run changes nothing', async () => {
    const { dir, existing, steps, opts } = fixture();
    const events: InstallerEvent[] = [];
    const first = await runSteps(steps, { ...opts, mode: 'apply', emit: (e) => events.push(e) });
    expect(recapLine(first.recap)).toBe('recap: ok=0 changed=2 failed=0 skipped=0');
    expect(readFileSync(existing, 'utf8')).toBe('new = true\n');
    expect(statSync(existing).mode & 0o777).toBe(0o644);
    expect(readFileSync(join(dir, 'units/x.service'), 'utf8')).toBe('[Unit]\n');
    expect(events.at(-1)).toMatchObject({
      type: 'recap',
      message: 'recap: ok=0 changed=2 failed=0 skipped=0',
    });
    const second = await runSteps(steps, { ...opts, mode: 'apply', emit: () => undefined });
    expect(recapLine(second.recap)).toBe('recap: ok=2 changed=0 failed=0 skipped=0');
    expect(first.artifacts.map((a) => a.kind)).toEqual(['file', 'directory', 'file']);
    expect(second.artifacts).toEqual([]);
  });

  it('plans with unified diffs and touches nothing', async () => {
    const { dir, existing, steps, opts } = fixture();
    const plan = await runSteps(steps, { ...opts, mode: 'plan', emit: () => undefined });
    expect(plan.recap).toEqual({ ok: 0, changed: 2, failed: 0, skipped: 0 });
    const diff = plan.steps[0]?.changes[0]?.diff as string;
    expect(diff).toContain('-old = true');
    expect(diff).toContain('+new = true');
    expect(diff).toContain('mode 644 (was 600)');
    expect(plan.steps[1]?.changes[0]).toMatchObject({ kind: 'unit', action: 'create' });
    expect(readFileSync(existing, 'utf8')).toBe('old = true\n');
    expect(existsSync(join(dir, 'units/x.service'))).toBe(false);
  });

  it('a failure rolls back every change, newest first, and skips what follows', async () => {
    const { dir, existing, steps, opts } = fixture();
    const after: Step = { id: 'later', title: 'later', plan: async () => [], apply: async () => undefined };
    const events: InstallerEvent[] = [];
    const run = await runSteps([...steps, failing, after], {
      ...opts,
      mode: 'apply',
      emit: (e) => events.push(e),
    });
    expect(recapLine(run.recap)).toBe('recap: ok=0 changed=2 failed=1 skipped=1');
    const failed = run.steps.find((s) => s.status === 'failed');
    expect(failed).toMatchObject({
      id: 'start',
      reason: 'x.service failed to start',
      evidence: 'x: exited with status 1',
    });
    expect(run.rollback?.undone).toEqual([
      `remove ${join(dir, 'units/x.service')}`,
      `remove directory ${join(dir, 'units')} (if empty)`,
      `restore ${existing}`,
    ]);
    expect(run.artifacts).toEqual([]);
    // The host is as the run found it: old bytes and mode back, the new file gone.
    expect(readFileSync(existing, 'utf8')).toBe('old = true\n');
    expect(statSync(existing).mode & 0o777).toBe(0o600);
    expect(existsSync(join(dir, 'units'))).toBe(false);
    expect(events.filter((e) => e.type === 'rollback')).toHaveLength(3);
  });

  it('lets one run hold the lock, and takes over a lock whose owner died', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'opencloud-lock-')), 'installer.lock');
    const release = await acquireLock(path);
    await expect(acquireLock(path)).rejects.toThrow(InstallerBusyError);
    await expect(acquireLock(path)).rejects.toThrow(`pid ${process.pid}`);
    await release();
    const dead = spawnSync(process.execPath, [
      '-e',
      'process.stdout.write(String(process.pid))',
    ]).stdout.toString();
    writeFileSync(path, `${dead}\n`);
    const again = await acquireLock(path);
    expect(readFileSync(path, 'utf8')).toBe(`${process.pid}\n`);
    await again();
  });
});
