// The installer's vocabulary. A component is an ordered list of steps; each step plans (read-
// only: what it would change), applies (recording how to undo each change in the journal) and
// verifies. The engine turns that into a run with events, rollback and a recap.
import type { UndoJournal } from './journal.js';

export type StepStatus = 'ok' | 'changed' | 'failed' | 'skipped';

/** One change a step would make, shown by `plan` (a unified diff for files and units). */
export interface PlannedChange {
  kind: 'file' | 'unit' | 'package' | 'group' | 'service' | 'binary' | 'directory';
  target: string;
  action: 'create' | 'update' | 'remove' | 'install' | 'start' | 'restart' | 'enable' | 'reload';
  diff?: string;
}

export interface InstallerEvent {
  type: 'run-start' | 'step-start' | 'step-result' | 'log' | 'progress' | 'rollback' | 'recap';
  runId: string;
  time: string;
  step?: string;
  title?: string;
  status?: StepStatus;
  reason?: string;
  changes?: PlannedChange[];
  message?: string;
  /** progress: bytes done and total (total 0 when unknown) */
  done?: number;
  total?: number;
  recap?: Recap;
}

export interface Recap {
  ok: number;
  changed: number;
  failed: number;
  skipped: number;
}

export interface StepContext {
  journal: UndoJournal;
  log(message: string): void;
  progress(done: number, total: number): void;
}

export interface Step {
  id: string;
  title: string;
  /** Read-only: what apply would change; an empty list means the host is already as wanted. */
  plan(): Promise<PlannedChange[]>;
  /** Makes the planned changes, recording an undo action for each in the journal. */
  apply(ctx: StepContext, planned: PlannedChange[]): Promise<void>;
  /** Confirms the wanted state really holds (a running daemon answers, a file has its content). */
  verify?(ctx: StepContext): Promise<void>;
  /** When set, the step is skipped with this reason (e.g. not applicable on this host). */
  skip?(): Promise<string | undefined>;
}

export class StepError extends Error {
  constructor(
    message: string,
    /** Evidence for the user: the unit's last journal lines, a daemon's last log lines. */
    readonly evidence?: string,
  ) {
    super(message);
    this.name = 'StepError';
  }
}
