// Keeps build secrets out of logs, events and error messages. BuildKit sends a step's output in
// chunks cut anywhere, so a secret can arrive in two pieces: each stream holds back a tail that
// could still become a secret (only while it is a proper prefix of one) until more text or the
// end of the step decides it.

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
