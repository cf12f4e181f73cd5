// Runs a component's steps: plan-only (a dry run that changes nothing) or apply. Each step ends
// ok (nothing to change), changed, failed or skipped. The first failure rolls back everything
// the run changed, newest first, and skips the steps after it. Every run ends with the recap.
import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describeArtifact, revert, type Artifact } from './artifacts.js';
import { UndoJournal, type RollbackOutcome } from './journal.js';
import {
  StepError,
  type InstallerEvent,
  type PlannedChange,
  type Recap,
  type RunState,
  type Step,
  type StepContext,
  type StepStatus,
} from './types.js';

export interface RunOptions {
  mode: 'plan' | 'apply';
  emit: (event: InstallerEvent) => void;
  runId?: string;
  /** Where copies of replaced files are kept (rollback and `disable` restore them from there). */
  backupDir: string;
}

export interface StepOutcome {
  id: string;
  title: string;
  status: StepStatus;
  reason?: string;
  changes: PlannedChange[];
  evidence?: string;
  durationMs: number;
}

export interface RunResult {
  runId: string;
  mode: 'plan' | 'apply';
  steps: StepOutcome[];
  recap: Recap;
  /** What the run put on the host and kept (empty when it failed and was rolled back). */
  artifacts: Artifact[];
  /** Facts the steps noted (installed versions and checksums); empty when rolled back. */
  facts: Record<string, unknown>;
  rollback?: RollbackOutcome;
}

export function recapLine(r: Recap): string {
  return `recap: ok=${r.ok} changed=${r.changed} failed=${r.failed} skipped=${r.skipped}`;
}

export async function runSteps(steps: Step[], opts: RunOptions): Promise<RunResult> {
  const runId = opts.runId ?? randomUUID();
  const time = () => new Date().toISOString();
  const emit = (e: Omit<InstallerEvent, 'runId' | 'time'>) => opts.emit({ ...e, runId, time: time() });
  const journal = new UndoJournal();
  const outcomes: StepOutcome[] = [];
  const artifacts: Artifact[] = [];
  const facts: Record<string, unknown> = {};
  let current = '';
  const state: RunState = {
    changed: new Set(),
    log: (message) => emit({ type: 'log', step: current, message }),
  };
  let failure: StepOutcome | undefined;

  emit({ type: 'run-start', message: `${opts.mode} of ${steps.length} steps` });
  for (const step of steps) {
    const started = Date.now();
    const done = (status: StepStatus, changes: PlannedChange[], reason?: string, evidence?: string) => {
      const outcome: StepOutcome = {
        id: step.id,
        title: step.title,
        status,
        changes,
        durationMs: Date.now() - started,
      };
      if (reason !== undefined) outcome.reason = reason;
      if (evidence !== undefined) outcome.evidence = evidence;
      outcomes.push(outcome);
      emit({
        type: 'step-result',
        step: step.id,
        title: step.title,
        status,
        changes,
        ...(reason ? { reason } : {}),
        ...(evidence ? { evidence } : {}),
      });
      return outcome;
    };
    if (failure) {
      done('skipped', [], `not run: step ${failure.id} failed`);
      continue;
    }
    current = step.id;
    emit({
      type: 'step-start',
      step: step.id,
      title: step.title,
      ...(step.phase ? { phase: step.phase } : {}),
    });
    const ctx: StepContext = {
      record: (a: Artifact) => {
        artifacts.push(a);
        journal.record(describeArtifact(a), () => revert(a));
      },
      backup: (path: string) => backupFile(path, opts.backupDir, runId),
      fact: (key: string, value: unknown) => (facts[key] = value),
      log: (message: string) => emit({ type: 'log', step: step.id, message }),
      progress: (d: number, total: number) => emit({ type: 'progress', step: step.id, done: d, total }),
    };
    try {
      const skipReason = await step.skip?.();
      if (skipReason) {
        done('skipped', [], skipReason);
        continue;
      }
      const planned = await step.plan(state);
      if (planned.length > 0) state.changed.add(step.id);
      if (opts.mode === 'plan' && step.checkOnly) {
        done('skipped', [], 'a check; it runs when the plan is applied');
        continue;
      }
      if (opts.mode === 'plan') {
        done(planned.length > 0 ? 'changed' : 'ok', planned, planned.length > 0 ? 'would change' : undefined);
        continue;
      }
      // A step may find on applying that the host already was as wanted (a download whose
      // binaries equal the installed ones): then it counts as ok and restarts nothing after it.
      const applied = planned.length > 0 ? await step.apply(ctx, planned, state) : 'unchanged';
      if (applied === 'unchanged') state.changed.delete(step.id);
      await step.verify?.(ctx);
      if (applied === 'unchanged') done('ok', [], planned.length > 0 ? 'already as wanted' : undefined);
      else done('changed', planned);
    } catch (err) {
      const evidence = err instanceof StepError ? err.evidence : undefined;
      failure = done('failed', [], (err as Error).message, evidence);
    }
  }

  const result: RunResult = {
    runId,
    mode: opts.mode,
    steps: outcomes,
    recap: { ok: 0, changed: 0, failed: 0, skipped: 0 },
    artifacts,
    facts,
  };
  if (failure && journal.size > 0) {
    result.rollback = await journal.rollback((description, error) =>
      emit({
        type: 'rollback',
        message: error ? `could not undo ${description}: ${error.message}` : `undid ${description}`,
      }),
    );
    result.artifacts = [];
    result.facts = {};
  }
  for (const o of outcomes) result.recap[o.status]++;
  emit({ type: 'recap', recap: result.recap, message: recapLine(result.recap) });
  return result;
}

/** Copies a file that is about to be replaced into the backup dir; undefined if it is absent. */
async function backupFile(path: string, dir: string, runId: string) {
  const st = await stat(path).catch(() => undefined);
  if (!st) return undefined;
  await mkdir(join(dir, runId), { recursive: true, mode: 0o700 });
  const backup = join(dir, runId, path.replaceAll('/', '_'));
  await copyFile(path, backup);
  return { backup, mode: st.mode & 0o7777 };
}
