// Noise summary: how busy the rest of the machine was during the timed measurements (every
// otherCpuPct in the results) and how long the benchmark waited for it to go quiet.
import { cfg } from './config.js';
import { fmt } from './format.js';
import { settleLog } from './settle.js';
import { median } from './stats.js';

/** Every otherCpuPct recorded in the results (uploads, downloads, small requests). */
function collectNoise(results: Record<string, unknown>): number[] {
  const out: number[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o.otherCpuPct === 'number') out.push(o.otherCpuPct);
      else Object.values(o).forEach(walk);
    }
  };
  walk([results.uploads, results.downloads, results.small]);
  return out;
}

/** The one-line noise summary on stdout (nothing when no timed measurement ran). */
export function printNoiseSummary(results: Record<string, unknown>): void {
  const noise = collectNoise(results);
  if (noise.length) {
    console.log(
      `\nnoise: other processes on the machine used a median of ${fmt(median(noise), 0)}% ` +
        `(max ${fmt(Math.max(...noise), 0)}%) of the CPUs during the timed measurements; ` +
        `waited ${fmt(settleLog.waitedS, 0)} s in all for a quieter machine before ${settleLog.count} of them ` +
        `(gave up after ${cfg.quietMaxS} s ${settleLog.gaveUp} times).`,
    );
  }
}
