// An install run's events (plan, enable, disable) folded into what the run view shows: each
// step with its phase, status, reason, evidence, planned changes (with unit/file diffs), log
// lines and download progress; rollback lines; and the closing recap.
import type { InstallerEvent, PlannedChange, Recap } from '../api/types';

export interface RunStep {
  id: string;
  title: string;
  phase?: string;
  status: 'running' | 'ok' | 'changed' | 'failed' | 'skipped';
  reason?: string;
  evidence?: string;
  changes: PlannedChange[];
  logs: string[];
  progress?: { done: number; total: number };
}

export interface RunProgress {
  started?: string;
  steps: RunStep[];
  /** Log lines outside any step. */
  logs: string[];
  rollback: string[];
  recap?: Recap;
  recapLine?: string;
}

export const emptyRun: RunProgress = { steps: [], logs: [], rollback: [] };

function updateStep(p: RunProgress, e: InstallerEvent, fn: (s: RunStep) => RunStep): RunProgress {
  const id = e.step as string;
  const i = p.steps.findIndex((s) => s.id === id);
  const steps = p.steps.slice();
  if (i < 0) steps.push(fn({ id, title: e.title ?? id, status: 'running', changes: [], logs: [] }));
  else steps[i] = fn(steps[i] as RunStep);
  return { ...p, steps };
}

export function applyRunEvent(p: RunProgress, e: InstallerEvent): RunProgress {
  switch (e.type) {
    case 'run-start':
      return { ...p, started: e.message };
    case 'step-start':
      return updateStep(p, e, (s) => ({
        ...s,
        title: e.title ?? s.title,
        phase: e.phase,
        status: 'running',
      }));
    case 'step-result':
      return updateStep(p, e, (s) => ({
        ...s,
        title: e.title ?? s.title,
        status: e.status ?? 'ok',
        reason: e.reason,
        evidence: e.evidence,
        changes: e.changes ?? [],
      }));
    case 'log':
      if (!e.step) return { ...p, logs: [...p.logs, e.message ?? ''] };
      return updateStep(p, e, (s) => ({ ...s, logs: [...s.logs, e.message ?? ''] }));
    case 'progress':
      return updateStep(p, e, (s) => ({ ...s, progress: { done: e.done ?? 0, total: e.total ?? 0 } }));
    case 'rollback':
      return { ...p, rollback: [...p.rollback, e.message ?? ''] };
    case 'recap':
      return { ...p, recap: e.recap, recapLine: e.message };
    default:
      return p;
  }
}
