// What a build reports as it runs: its own state changes and, from BuildKit's progress, each
// step's state, log lines, transfer progress and warnings. These go to SSE clients as they come
// and are kept for late subscribers.
export type BuildState = 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled';

export type BuildEvent =
  /** `worker`: the BuildKit daemon the build was placed on (with `running`). */
  | { type: 'state'; state: BuildState; message?: string; worker?: string }
  | {
      type: 'step';
      step: string;
      name: string;
      status: 'started' | 'completed' | 'cached' | 'failed';
      error?: string;
    }
  /** `time`: when BuildKit saw the output (its clock), to measure how late a client gets it. */
  | { type: 'log'; step: string; name: string; stream: 'stdout' | 'stderr'; text: string; time?: string }
  | { type: 'progress'; step: string; id: string; current: number; total: number; done: boolean }
  | { type: 'warning'; step: string; text: string }
  /** buildctl's own output that is not progress JSON (its error text). */
  | { type: 'output'; text: string };
