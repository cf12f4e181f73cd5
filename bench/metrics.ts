// Generic results of the phases added for issue 9 (chunked upload, ranged GET, concurrent pulls,
// skopeo/crane, start-up): a section of rows, each a number per run per server, that report.ts
// prints as median (min-max) with a ratio to every peer. A phase that cannot run on a server (a tool
// missing, no Range support) says why in `notes`, and the cell shows that instead of a number.
import type { ServerKey } from './config.js';

export interface MetricRow {
  label: string;
  unit: string;
  /** Which way is better: a time is lower, a rate is higher. Decides the ratio's direction. */
  better: 'lower' | 'higher';
  digits?: number;
  values: Partial<Record<ServerKey, number[]>>;
  /** Per server: why there is no number (shown instead of `n/a`). */
  notes?: Partial<Record<ServerKey, string>>;
}

export interface MetricSection {
  title: string;
  rows: MetricRow[];
  /** Why the whole section was skipped (printed as its only row). */
  skipped?: string;
}

export function row(label: string, unit: string, better: 'lower' | 'higher', digits = 2): MetricRow {
  return { label, unit, better, digits, values: {}, notes: {} };
}

export function add(r: MetricRow, key: ServerKey, value: number): void {
  (r.values[key] ??= []).push(value);
}

export function note(r: MetricRow, key: ServerKey, why: string): void {
  (r.notes ??= {})[key] = why;
}
