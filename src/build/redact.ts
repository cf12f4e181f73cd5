// Keeps build secrets out of logs, events and error messages. BuildKit sends a step's output in
// chunks cut anywhere, so a secret can arrive in two pieces: each stream holds back a tail that
// could still become a secret (only while it is a proper prefix of one) until more text or the
// end of the step decides it. `redactingEmitter` applies it to a build's event stream.

import type { BuildEvent } from './events.js';

const MASK = '***';

export class Redactor {
  private readonly secrets: string[];
  private readonly pending = new Map<string, string>();

  /** Values shorter than 4 characters are not masked: they would mangle ordinary text. */
  constructor(values: string[]) {
    // Longest first, so a secret that contains another is masked whole.
    this.secrets = [...new Set(values.filter((v) => v.length >= 4))].sort((a, b) => b.length - a.length);
  }

  get active(): boolean {
    return this.secrets.length > 0;
  }

  /** A complete text (an error message): every occurrence masked. */
  redact(text: string): string {
    return this.scan(text, false).out;
  }

  /** The next chunk of stream `key`: what may be shown now; a possible secret's start is kept. */
  push(key: string, text: string): string {
    const { out, held } = this.scan((this.pending.get(key) ?? '') + text, true);
    if (held) this.pending.set(key, held);
    else this.pending.delete(key);
    return out;
  }

  /** The end of stream `key`: what it still held, masked where needed. */
  flush(key: string): string {
    const held = this.pending.get(key) ?? '';
    this.pending.delete(key);
    return held && this.redact(held);
  }

  /** Keys of the streams that hold text. */
  holding(): string[] {
    return [...this.pending.keys()];
  }

  private scan(text: string, hold: boolean): { out: string; held: string } {
    let out = '';
    let from = 0; // start of the text not yet copied to out
    for (let i = 0; i < text.length; i++) {
      const whole = this.secrets.find((s) => text.startsWith(s, i));
      if (whole) {
        out += text.slice(from, i) + MASK;
        i += whole.length - 1;
        from = i + 1;
        continue;
      }
      const rest = text.length - i;
      // secrets[0] is the longest: further back than that, nothing can be a secret's start.
      if (
        hold &&
        rest < (this.secrets[0]?.length ?? 0) &&
        this.secrets.some((s) => s.length > rest && s.startsWith(text.slice(i)))
      ) {
        return { out: out + text.slice(from, i), held: text.slice(i) };
      }
    }
    return { out: out + text.slice(from), held: '' };
  }
}

/**
 * Masks secrets in log and output text as it streams. A held tail is shown (masked) before its
 * step reports an end and before the build's final state, so nothing printed is lost.
 */
export function redactingEmitter(redactor: Redactor, emit: (e: BuildEvent) => void): (e: BuildEvent) => void {
  const last = new Map<string, BuildEvent>(); // per stream: the event a held tail belongs to
  const flush = (key: string) => {
    const text = redactor.flush(key);
    const e = last.get(key);
    if (text && e && (e.type === 'log' || e.type === 'output')) emit({ ...e, text });
  };
  return (e) => {
    if (e.type === 'log' || e.type === 'output') {
      const key = e.type === 'log' ? `${e.step}\0${e.stream}` : 'output';
      last.set(key, e);
      const text = redactor.push(key, e.text);
      if (text) emit({ ...e, text });
      return;
    }
    if (e.type === 'step' && e.status !== 'started') {
      for (const key of redactor.holding()) if (key.startsWith(`${e.step}\0`)) flush(key);
    }
    if (e.type === 'state' && e.state !== 'queued' && e.state !== 'running') {
      for (const key of redactor.holding()) flush(key);
    }
    emit(e);
  };
}
