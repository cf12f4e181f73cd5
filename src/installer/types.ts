// The installer's vocabulary. A component is an ordered list of steps; each step plans (read-
// only: what it would change), applies (recording how to undo each change in the journal) and
// verifies. The engine turns that into a run with events, rollback and a recap.
import type { Artifact } from './artifacts.js';

export type StepStatus = 'ok' | 'changed' | 'failed' | 'skipped';

/** One change a step would make, shown by `plan` (a unified diff for files and units). */
export interface PlannedChange {
  kind:
    | 'file'
    | 'unit'
    | 'package'
    | 'group'
    | 'service'
    | 'binary'
    | 'directory'
    | 'user'
    | 'membership'
    | 'tree';
  target: string;
  action: 'create' | 'update' | 'remove' | 'install' | 'start' | 'stop' | 'restart' | 'enable' | 'reload';
  /** How, for changes that are not a diff (e.g. "download https://…"). */
  detail?: string;
  diff?: string;
}

export interface InstallerEvent {
  type: 'run-start' | 'step-start' | 'step-result' | 'log' | 'progress' | 'rollback' | 'recap';
  runId: string;
  time: string;
  step?: string;
  title?: string;
  phase?: string;
  status?: StepStatus;
  reason?: string;
  /** A failure's evidence: the unit's last journal lines, a daemon's last log lines. */
  evidence?: string;
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
  /** Records a change just made: rolled back if the run fails, kept in the ledger if it succeeds. */
  record(artifact: Artifact): void;
  /** Copies a file about to be replaced somewhere durable, so rollback and `disable` can restore it. */
  backup(path: string): Promise<{ backup: string; mode: number } | undefined>;
  /** Notes a fact about what is installed (versions, checksums), kept in the ledger. */
  fact(key: string, value: unknown): void;
  log(message: string): void;
  progress(done: number, total: number): void;
}

/** Shared by the steps of one run: which steps changed (or, planning, would change) the host. */
export interface RunState {
  changed: Set<string>;
  /** Logs a line for the step being planned (plans run in dry runs too). */
  log(message: string): void;
}

export interface Step {
  id: string;
  title: string;
  /** The phase the step belongs to ("Step 1: containerd installation" in the human view). */
  phase?: string;
  /** Read-only: what apply would change; an empty list means the host is already as wanted. */
  plan(run: RunState): Promise<PlannedChange[]>;
  /** Makes the planned changes, recording an undo action for each in the journal. */
  /** Resolves to 'unchanged' when it found nothing to change after all. */
  apply(ctx: StepContext, planned: PlannedChange[], run: RunState): Promise<void | 'unchanged'>;
  /** Confirms the wanted state really holds (a running daemon answers, a file has its content). */
  verify?(ctx: StepContext): Promise<void>;
  /** A pure check (changes nothing): a dry run reports it skipped, as it runs only when applied. */
  checkOnly?: boolean;
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
