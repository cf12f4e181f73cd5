// A build's events as the command line prints them, in the plain style of `docker buildx
// --progress=plain`: each step numbered in the order it starts (`#3 [2/4] RUN make`), its output
// lines under its number, then DONE, CACHED or ERROR; warnings and the build's own state changes
// as lines of their own. Returns what a caller needs at the end: the step that failed, if any.
import type { BuildEvent } from '../build/events.js';

export class BuildLog {
  private readonly numbers = new Map<string, number>();
  /** Steps whose end was printed: BuildKit reports a step's completion more than once. */
  private readonly ended = new Set<string>();
  private readonly started = Date.now();
  /** The step that failed, with its error, once one did. */
  failedStep: { name: string; error?: string } | undefined;

  constructor(private readonly write: (line: string) => void) {}

  private number(step: string, name: string): number {
    let n = this.numbers.get(step);
    if (n === undefined) {
      n = this.numbers.size + 1;
      this.numbers.set(step, n);
      this.write(`#${n} ${name}`);
    }
    return n;
  }

  private seconds(): string {
    return ((Date.now() - this.started) / 1000).toFixed(1);
  }

  show(e: BuildEvent): void {
    switch (e.type) {
      case 'state':
        this.write(
          `build ${e.state}${e.worker ? ` on ${e.worker}` : ''}${e.message ? `: ${e.message}` : ''}`,
        );
        return;
      case 'step': {
        const n = this.number(e.step, e.name);
        if (e.status === 'started' || this.ended.has(e.step)) return;
        this.ended.add(e.step);
        if (e.status === 'completed') this.write(`#${n} DONE ${this.seconds()}s`);
        else if (e.status === 'cached') this.write(`#${n} CACHED`);
        else if (e.status === 'failed') {
          this.failedStep = { name: e.name, ...(e.error ? { error: e.error } : {}) };
          this.write(`#${n} ERROR: ${e.error ?? 'failed'}`);
        }
        return;
      }
      case 'log': {
        const n = this.number(e.step, e.name);
        for (const line of e.text.replace(/\n$/, '').split('\n'))
          this.write(`#${n} ${this.seconds()} ${line}`);
        return;
      }
      case 'warning':
        this.write(`WARNING: ${e.text}`);
        return;
      case 'output':
        for (const line of e.text.replace(/\n$/, '').split('\n')) this.write(line);
        return;
      case 'progress':
        return; // transfer progress: a plain log shows steps and their output, not byte counts
    }
  }
}
