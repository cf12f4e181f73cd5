// The shapes the server's JSON API answers with (README: /api/v1/…), as far as the UI reads them.
export interface SystemInfo {
  version: string;
  node: string;
  buildkitVersion: string;
  listen: string;
  dataDir: string;
  sockets: { containerd: string; buildkit: string };
}

export interface ServiceSummary {
  name: string;
  state: string;
  lastRunId: string | null;
  facts: Record<string, unknown>;
}

export type BuildState = 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled';
export const FINAL_BUILD_STATES: readonly BuildState[] = ['succeeded', 'failed', 'canceled'];

export interface BuildRecord {
  id: string;
  state: BuildState;
  definition: { repository: string; tags: string[]; noCache: boolean; dockerfile: string };
  images: string[];
  digest: string | null;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export type BuildEvent =
  | { type: 'state'; state: BuildState; message?: string }
  | {
      type: 'step';
      step: string;
      name: string;
      status: 'started' | 'completed' | 'cached' | 'failed';
      error?: string;
    }
  | { type: 'log'; step: string; name: string; stream: 'stdout' | 'stderr'; text: string }
  | { type: 'progress'; step: string; id: string; current: number; total: number; done: boolean }
  | { type: 'warning'; step: string; text: string }
  | { type: 'output'; text: string };

export interface PlannedChange {
  kind: string;
  target: string;
  action: string;
  detail?: string;
  diff?: string;
}

export interface Recap {
  ok: number;
  changed: number;
  failed: number;
  skipped: number;
}

export interface InstallerEvent {
  type: 'run-start' | 'step-start' | 'step-result' | 'log' | 'progress' | 'rollback' | 'recap';
  time: string;
  step?: string;
  title?: string;
  phase?: string;
  status?: 'ok' | 'changed' | 'failed' | 'skipped';
  reason?: string;
  evidence?: string;
  changes?: PlannedChange[];
  message?: string;
  done?: number;
  total?: number;
  recap?: Recap;
}
