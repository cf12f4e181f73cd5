// CPU profile summary (BENCH_PROFILE=1): self time by area and by function of our server, from
// the .cpuprofile files node writes when it stops (--cpu-prof), for the results and the stdout.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fmt } from './format.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface ProfileLine {
  fn: string;
  ms: number;
  pct: number;
}

export function summariseProfiles(
  dir: string,
): { file: string; top: ProfileLine[]; byArea: ProfileLine[] }[] {
  const out: { file: string; top: ProfileLine[]; byArea: ProfileLine[] }[] = [];
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  } catch {
    return out;
  }
  for (const file of files) {
    const prof = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
      nodes: ProfileNode[];
      samples: number[];
      timeDeltas: number[];
    };
    const byId = new Map(prof.nodes.map((n) => [n.id, n]));
    const self = new Map<string, number>();
    const area = new Map<string, number>();
    let total = 0;
    prof.samples.forEach((id, i) => {
      const us = prof.timeDeltas[i] ?? 0;
      const cf = byId.get(id)?.callFrame;
      if (!cf || cf.functionName === '(idle)') return;
      total += us;
      const where = cf.url.replace(/^file:\/\//, '').replace(/^.*\/(node_modules|dist)\//, '$1/');
      const key =
        `${cf.functionName || '(anonymous)'} ${where ? `${where}:${cf.lineNumber + 1}` : ''}`.trim();
      self.set(key, (self.get(key) ?? 0) + us);
      const a = cf.url.startsWith('node:')
        ? cf.url
        : (/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(cf.url)?.[1] ??
          /\/dist\/(.*)$/.exec(cf.url)?.[1] ??
          (cf.url || cf.functionName));
      area.set(a, (area.get(a) ?? 0) + us);
    });
    const rank = (m: Map<string, number>, n: number) =>
      [...m.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, n)
        .map(([fn, us]) => ({ fn, ms: us / 1000, pct: (100 * us) / total }));
    out.push({ file, top: rank(self, 25), byArea: rank(area, 15) });
  }
  return out;
}

export type ProfileSummary = ReturnType<typeof summariseProfiles>;

/** Prints each profile's self time by area, then its top functions. */
export function printProfiles(summary: ProfileSummary): void {
  const print = (lines: ProfileLine[]) => {
    for (const l of lines)
      console.log(`  ${fmt(l.pct, 1).padStart(5)}%  ${fmt(l.ms, 0).padStart(7)} ms  ${l.fn}`);
  };
  for (const p of summary) {
    console.log(`\nCPU profile of our server (${p.file}), self time excluding idle, by area:`);
    print(p.byArea);
    console.log('top functions:');
    print(p.top);
  }
}
