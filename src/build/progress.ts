// Turns buildctl's `--progress=rawjson` stream (stderr: one JSON SolveStatus per line) into
// build events. BuildKit repeats a vertex in many messages as it changes: they are merged by
// digest and a step event is emitted only when its state moves. Log data is base64. Lines that
// are not JSON are buildctl's own error text. The last log lines of each step are kept, so a
// failure can say which step failed and what it printed last.
import { StringDecoder } from 'node:string_decoder';
import type { BuildEvent } from './events.js';

interface RawVertex {
  digest: string;
  name?: string;
  started?: string;
  completed?: string;
  cached?: boolean;
  error?: string;
}
interface RawStatus {
  id: string;
  vertex: string;
  current?: number;
  total?: number;
  completed?: string;
}
interface RawLog {
  vertex: string;
  stream?: number;
  data: string;
  timestamp?: string;
}
interface RawWarning {
  vertex: string;
  short?: string;
}
interface SolveStatus {
  vertexes?: RawVertex[];
  statuses?: RawStatus[];
  logs?: RawLog[];
  warnings?: RawWarning[];
}

const TAIL_LINES = 20;

export class ProgressReader {
  private readonly steps = new Map<
    string,
    { name: string; status?: string; tail: string[]; partial: string; decoders: Map<number, StringDecoder> }
  >();
  /** The step that failed, with its last lines, once BuildKit reported it. */
  failed: { name: string; error: string; tail: string[] } | undefined;
  readonly output: string[] = [];

  constructor(private readonly emit: (e: BuildEvent) => void) {}

  line(text: string): void {
    if (!text.startsWith('{')) {
      if (text.trim()) {
        this.output.push(text);
        this.emit({ type: 'output', text });
      }
      return;
    }
    let s: SolveStatus;
    try {
      s = JSON.parse(text) as SolveStatus;
    } catch {
      this.output.push(text);
      this.emit({ type: 'output', text });
      return;
    }
    for (const v of s.vertexes ?? []) this.vertex(v);
    for (const st of s.statuses ?? []) {
      this.emit({
        type: 'progress',
        step: st.vertex,
        id: st.id,
        current: st.current ?? 0,
        total: st.total ?? 0,
        done: st.completed !== undefined,
      });
    }
    for (const l of s.logs ?? []) this.log(l);
    for (const w of s.warnings ?? []) {
      this.emit({
        type: 'warning',
        step: w.vertex,
        text: Buffer.from(w.short ?? '', 'base64').toString('utf8'),
      });
    }
  }

  private step(digest: string) {
    let st = this.steps.get(digest);
    if (!st) this.steps.set(digest, (st = { name: digest, tail: [], partial: '', decoders: new Map() }));
    return st;
  }

  private vertex(v: RawVertex): void {
    const st = this.step(v.digest);
    if (v.name) st.name = v.name;
    const status = v.error
      ? 'failed'
      : v.cached
        ? 'cached'
        : v.completed
          ? 'completed'
          : v.started
            ? 'started'
            : undefined;
    if (!status || status === st.status) return;
    st.status = status;
    const event: BuildEvent = { type: 'step', step: v.digest, name: st.name, status };
    if (v.error) {
      event.error = v.error;
      // "context canceled" is how every other running step ends when one fails: not the cause.
      if (!this.failed || /context canceled/.test(this.failed.error)) {
        this.failed = {
          name: st.name,
          error: v.error,
          tail: st.partial ? [...st.tail, st.partial] : [...st.tail],
        };
      }
    }
    this.emit(event);
  }

  private log(l: RawLog): void {
    const st = this.step(l.vertex);
    // Chunks are cut anywhere, even inside a UTF-8 character or a line: one decoder per stream,
    // and the tail is made of whole lines (the last one may still be growing).
    const stream = l.stream ?? 1;
    let decoder = st.decoders.get(stream);
    if (!decoder) st.decoders.set(stream, (decoder = new StringDecoder('utf8')));
    const text = decoder.write(Buffer.from(l.data, 'base64'));
    if (!text) return;
    const lines = (st.partial + text).split('\n');
    st.partial = lines.pop() ?? '';
    for (const line of lines) if (line) st.tail.push(line);
    if (st.tail.length > TAIL_LINES) st.tail.splice(0, st.tail.length - TAIL_LINES);
    this.emit({
      type: 'log',
      step: l.vertex,
      name: st.name,
      stream: l.stream === 2 ? 'stderr' : 'stdout',
      text,
      ...(l.timestamp ? { time: l.timestamp } : {}),
    });
  }
}
