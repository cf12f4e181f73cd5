// Metric families and the Prometheus text exposition format (version 0.0.4), written by hand:
// counters, gauges and histograms with fixed label names, rendered with one `# HELP` and one
// `# TYPE` line per family, escaped label values, and cumulative histogram buckets ending in +Inf.
// Values computed at scrape time come from collectors, which run before each render.

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type MetricType = 'counter' | 'gauge' | 'histogram';
export type Labels = Readonly<Record<string, string | number>>;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A sample value as the format writes it: +Inf, -Inf, NaN, or a JavaScript number. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** Label values escape backslash, double quote and line feed. */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text escapes backslash and line feed (quotes stay as they are). */
export function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function labelText(names: readonly string[], values: readonly string[], extra?: [string, string]): string {
  const parts = names.map((n, i) => `${n}="${escapeLabelValue(values[i] as string)}"`);
  if (extra) parts.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

abstract class Family<S> {
  protected readonly series = new Map<string, { values: string[]; state: S }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricType,
    readonly labelNames: readonly string[],
  ) {
    if (!METRIC_NAME.test(name)) throw new Error(`invalid metric name ${JSON.stringify(name)}`);
    for (const l of labelNames) {
      if (!LABEL_NAME.test(l) || l.startsWith('__'))
        throw new Error(`invalid label name ${JSON.stringify(l)}`);
    }
    if (new Set(labelNames).size !== labelNames.length) throw new Error(`duplicate label names on ${name}`);
  }

  protected abstract fresh(): S;

  /** The series for these labels (created at its zero value on first use). */
  protected at(labels: Labels = {}): S {
    const given = Object.keys(labels);
    if (given.length !== this.labelNames.length || !this.labelNames.every((n) => n in labels)) {
      throw new Error(`${this.name} takes labels [${this.labelNames.join(', ')}], got [${given.join(', ')}]`);
    }
    const values = this.labelNames.map((n) => String(labels[n]));
    const key = values.join('\u0000');
    let s = this.series.get(key);
    if (!s) {
      s = { values, state: this.fresh() };
      this.series.set(key, s);
    }
    return s.state;
  }

  /** Forgets every series (for gauges recomputed from scratch at each scrape). */
  reset(): void {
    this.series.clear();
  }

  protected abstract samples(values: string[], state: S): string[];

  render(): string {
    const lines = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`];
    for (const { values, state } of this.series.values()) lines.push(...this.samples(values, state));
    return lines.join('\n') + '\n';
  }
}

export class Counter extends Family<{ value: number }> {
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, 'counter', labelNames);
  }
  protected fresh() {
    return { value: 0 };
  }
  inc(labels?: Labels, by = 1): void {
    if (!(by >= 0)) throw new Error(`${this.name}: a counter only goes up (got ${by})`);
    this.at(labels).value += by;
  }
  /** Makes the series exist at 0, so it is exposed before the first increment. */
  touch(labels?: Labels): void {
    this.at(labels);
  }
  get(labels?: Labels): number {
    return this.at(labels).value;
  }
  protected samples(values: string[], s: { value: number }) {
    return [`${this.name}${labelText(this.labelNames, values)} ${formatValue(s.value)}`];
  }
}

export class Gauge extends Family<{ value: number }> {
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, 'gauge', labelNames);
  }
  protected fresh() {
    return { value: 0 };
  }
  set(labels: Labels | undefined, value: number): void {
    this.at(labels).value = value;
  }
  get(labels?: Labels): number {
    return this.at(labels).value;
  }
  protected samples(values: string[], s: { value: number }) {
    return [`${this.name}${labelText(this.labelNames, values)} ${formatValue(s.value)}`];
  }
}

interface HistogramState {
  /** Observations per bucket, not cumulative; the last slot is +Inf. */
  counts: number[];
  sum: number;
  count: number;
}

export class Histogram extends Family<HistogramState> {
  readonly buckets: readonly number[];

  constructor(name: string, help: string, buckets: readonly number[], labelNames: readonly string[] = []) {
    super(name, help, 'histogram', labelNames);
    if (labelNames.includes('le')) throw new Error(`${name}: a histogram cannot have a label "le"`);
    const finite = buckets.filter((b) => b !== Infinity);
    if (
      finite.length === 0 ||
      finite.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= (finite[i - 1] as number)))
    ) {
      throw new Error(`${name}: buckets must be finite numbers in increasing order`);
    }
    this.buckets = finite;
  }
  protected fresh(): HistogramState {
    return { counts: new Array<number>(this.buckets.length + 1).fill(0), sum: 0, count: 0 };
  }
  observe(labels: Labels | undefined, value: number): void {
    if (Number.isNaN(value)) return;
    const s = this.at(labels);
    let i = 0;
    while (i < this.buckets.length && value > (this.buckets[i] as number)) i++;
    (s.counts[i] as number)++;
    s.sum += value;
    s.count++;
  }
  /** Makes the series exist with zero observations. */
  touch(labels?: Labels): void {
    this.at(labels);
  }
  protected samples(values: string[], s: HistogramState) {
    const out: string[] = [];
    let cumulative = 0;
    for (let i = 0; i <= this.buckets.length; i++) {
      cumulative += s.counts[i] as number;
      const le = i < this.buckets.length ? formatValue(this.buckets[i] as number) : '+Inf';
      out.push(`${this.name}_bucket${labelText(this.labelNames, values, ['le', le])} ${cumulative}`);
    }
    const labels = labelText(this.labelNames, values);
    out.push(`${this.name}_sum${labels} ${formatValue(s.sum)}`);
    out.push(`${this.name}_count${labels} ${s.count}`);
    return out;
  }
}

/** Updates gauges just before a render; a failing collector is reported, not fatal. */
export type Collector = () => void | Promise<void>;

export class MetricRegistry {
  private readonly families = new Map<string, Family<unknown>>();
  private readonly collectors: Collector[] = [];

  private add<F extends Family<unknown>>(family: F): F {
    if (this.families.has(family.name)) throw new Error(`metric ${family.name} is registered twice`);
    this.families.set(family.name, family);
    return family;
  }

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.add(new Counter(name, help, labelNames));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.add(new Gauge(name, help, labelNames));
  }

  histogram(
    name: string,
    help: string,
    buckets: readonly number[],
    labelNames: readonly string[] = [],
  ): Histogram {
    return this.add(new Histogram(name, help, buckets, labelNames));
  }

  collect(c: Collector): void {
    this.collectors.push(c);
  }

  /** Runs the collectors (concurrently), then renders every family in registration order. */
  async scrape(onError: (err: unknown) => void = () => undefined): Promise<string> {
    await Promise.all(
      this.collectors.map(async (c) => {
        try {
          await c();
        } catch (err) {
          onError(err);
        }
      }),
    );
    return this.render();
  }

  render(): string {
    return [...this.families.values()].map((f) => f.render()).join('');
  }
}
