// Runs a component's steps: plan-only (a dry run that changes nothing) or apply. Each step ends
// ok (nothing to change), changed, failed or skipped. The first failure rolls back everything
// the run changed, newest first, and skips the steps after it. Every run ends with the recap.
import { randomUUID } from 'node:crypto';
import { UndoJournal, type RollbackOutcome } from './journal.js';
import {
  StepError,
  type InstallerEvent,
  type PlannedChange,
  type Recap,
  type Step,
  type StepStatus,
} from './types.js';

export interface RunOptions {
  mode: 'plan' | 'apply';
  emit: (event: InstallerEvent) => void;
  runId?: string;
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
      });
      return outcome;
    };
    if (failure) {
      done('skipped', [], `not run: step ${failure.id} failed`);
      continue;
    }
    emit({ type: 'step-start', step: step.id, title: step.title });
    const ctx = {
      journal,
      log: (message: string) => emit({ type: 'log', step: step.id, message }),
      progress: (d: number, total: number) => emit({ type: 'progress', step: step.id, done: d, total }),
    };
    try {
      const skipReason = await step.skip?.();
      if (skipReason) {
        done('skipped', [], skipReason);
        continue;
      }
      const planned = await step.plan();
      if (opts.mode === 'plan') {
        done(planned.length > 0 ? 'changed' : 'ok', planned, planned.length > 0 ? 'would change' : undefined);
        continue;
      }
      if (planned.length > 0) await step.apply(ctx, planned);
      await step.verify?.(ctx);
      done(planned.length > 0 ? 'changed' : 'ok', planned);
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
  };
  if (failure && journal.size > 0) {
    result.rollback = await journal.rollback((description, error) =>
      emit({
        type: 'rollback',
        message: error ? `could not undo ${description}: ${error.message}` : `undid ${description}`,
      }),
    );
  }
  for (const o of outcomes) result.recap[o.status]++;
  emit({ type: 'recap', recap: result.recap, message: recapLine(result.recap) });
  return result;
}
