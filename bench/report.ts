// The results table on stdout: medians over the runs, ours next to Distribution, ratios where
// above 1 means ours is better; then the targets judged (met / MISSED), returned as verdicts
// for the results JSON.
import { cfg, MB, type ServerKey } from './config.js';
import { fmt } from './format.js';
import type { LoadResult } from './load-generators.js';
import type { TimedResults, TimedRun } from './measure.js';
import { REFERENCE_LABEL, type ReferenceKind, type ReferenceResults } from './phase-reference.js';
import type { AfterLoad, RssResults, RssRun } from './phase-rss.js';
import type { SmallResults } from './phase-small.js';
import { FORM_LABEL, FORMS } from './phase-upload.js';
import type { Server } from './servers.js';
import { median } from './stats.js';

export interface Verdict {
  target: string;
  ratio: number;
  verdict: string;
  detail: string;
}

export function report(
  servers: Server[],
  size: number,
  reference: ReferenceResults,
  uploads: TimedResults,
  singlePost: Record<string, boolean>,
  downloads: TimedResults,
  small: SmallResults,
  rss: RssResults,
  afterLoad: AfterLoad,
): Verdict[] {
  const rows: string[][] = [];
  const head = ['measurement (median of runs)', 'ours', 'Distribution', 'ratio (>1: ours better)'];
  const section = (title: string) => rows.push([title, '', '', '']);
  const med = <T>(xs: T[] | undefined, f: (x: T) => number) => median((xs ?? []).map(f));
  const memoryRow = (label: string, o: number, x: number) =>
    rows.push([`  ${label}`, `${fmt(o, 0)} MB`, `${fmt(x, 0)} MB`, ratioCell(x / o, 'size')]);
  const verdicts: Verdict[] = [];
  const hasDist = servers.some((s) => s.key === 'distribution');
  const hasOurs = servers.some((s) => s.key === 'ours');

  if (Object.keys(reference).length) {
    section(`reference: ${cfg.blobMiB} MiB in this Node process, on this disk`);
    for (const [kind, label] of Object.entries(REFERENCE_LABEL) as [ReferenceKind, string][]) {
      const s = median(reference[kind] ?? []);
      if (Number.isFinite(s)) rows.push([`  ${label}`, `${fmt(s)} s  ${fmt(size / MB / s, 0)} MB/s`, '', '']);
    }
  }

  const timedRows = (title: string, data: TimedResults, keys: [string, string][]) => {
    if (!Object.keys(data).length) return;
    section(title);
    for (const [key, label] of keys) {
      const d = data[key];
      if (!d) continue;
      const o = med(d.ours, (r) => r.seconds);
      const x = med(d.distribution, (r) => r.seconds);
      const cell = (runs: TimedRun[] | undefined, s: number, k: ServerKey) =>
        runs?.length
          ? `${fmt(s)} s  ${fmt(size / MB / s, 0)} MB/s  cpu ${fmt(med(runs, (r) => r.serverCpuS))} s`
          : servers.some((sv) => sv.key === k) && key === 'post' && singlePost[k] === false
            ? 'n/a (202: no single-POST upload)'
            : 'n/a';
      rows.push([
        `  ${label}`,
        cell(d.ours, o, 'ours'),
        cell(d.distribution, x, 'distribution'),
        ratioCell(x / o, 'time'),
      ]);
    }
  };
  timedRows(
    `upload ${cfg.blobMiB} MiB (wall time, MB/s, server CPU)`,
    uploads,
    FORMS.map((f) => [f, FORM_LABEL[f]]),
  );
  timedRows(`download ${cfg.blobMiB} MiB (warm page cache)`, downloads, [
    ['verify', 'GET, sha256 verified while reading'],
    ['discard', 'GET, bytes discarded'],
  ]);

  if (Object.keys(small).length) {
    section(`small requests: ${cfg.concurrency} concurrent keep-alive connections`);
    const labels: [string, string][] = [
      ['head-blob', `HEAD blob (node client, ${cfg.smallRequests} req)`],
      ['get-manifest', `GET manifest (node client, ${cfg.smallRequests} req)`],
      ['get-manifest-wrk', `GET manifest (wrk, ${cfg.wrkSeconds} s)`],
    ];
    for (const [key, label] of labels) {
      const d = small[key];
      if (!d) continue;
      const cell = (runs: LoadResult[] | undefined) =>
        runs?.length
          ? `${fmt(
              med(runs, (r) => r.rps),
              0,
            )} req/s  p50 ${fmt(med(runs, (r) => r.p50ms))}  p99 ${fmt(med(runs, (r) => r.p99ms))} ms` +
            (runs.some((r) => r.errors > 0) ? `  ERRORS ${runs.reduce((a, r) => a + r.errors, 0)}` : '')
          : 'n/a';
      const rps = med(d.ours, (r) => r.rps)
        ? med(d.ours, (r) => r.rps) / med(d.distribution, (r) => r.rps)
        : NaN;
      const p50 = med(d.distribution, (r) => r.p50ms) / med(d.ours, (r) => r.p50ms);
      const p99 = med(d.distribution, (r) => r.p99ms) / med(d.ours, (r) => r.p99ms);
      rows.push([
        `  ${label}`,
        cell(d.ours),
        cell(d.distribution),
        `${fmt(rps)} req/s, ${fmt(p50)} p50, ${fmt(p99)} p99`,
      ]);
      if (hasDist && hasOurs && key !== 'get-manifest-wrk') {
        verdicts.push(noSlower(`${label}: req/s no lower`, rps), noSlower(`${label}: p99 no higher`, p99));
      }
    }
  }

  if (Object.keys(rss).length) {
    if (Object.keys(afterLoad).length) {
      section('resident memory after the phases above, before a restart (MB = 10^6 bytes)');
      for (const [k, label] of [
        ['rssMB', 'RSS'],
        ['hwmMB', 'high-water mark over the whole life'],
      ] as const) {
        memoryRow(label, afterLoad.ours?.[k] ?? NaN, afterLoad.distribution?.[k] ?? NaN);
      }
    }
    section(`resident memory, freshly started, while ${cfg.rssMiB} MiB is pushed then pulled`);
    const rssRows: [keyof RssRun, string][] = [
      ['baselineMB', 'idle before'],
      ['pushPeakMB', 'peak during push'],
      ['pullPeakMB', 'peak during pull'],
      ['steadyMB', 'median during push+pull'],
      ['hwmMB', 'kernel high-water mark'],
      ['afterMB', 'idle after'],
    ];
    for (const [k, label] of rssRows) {
      memoryRow(
        label,
        med(rss.ours, (r) => r[k]),
        med(rss.distribution, (r) => r[k]),
      );
    }
    const pt = (key: string) => [med(rss[key], (r) => r.pushSeconds), med(rss[key], (r) => r.pullSeconds)];
    const [op, ol] = pt('ours') as [number, number];
    const [xp, xl] = pt('distribution') as [number, number];
    rows.push([
      `  push / pull time`,
      `${fmt(op)} / ${fmt(ol)} s`,
      `${fmt(xp)} / ${fmt(xl)} s`,
      `${fmt(xp / op)} / ${fmt(xl / ol)}`,
    ]);
    if (rss.ours?.length) {
      const worst = Math.max(...rss.ours.flatMap((r) => [r.hwmMB, r.pushPeakMB, r.pullPeakMB]));
      verdicts.push({
        target: `RSS < 150 MB while ${cfg.rssMiB} MiB is pushed and pulled (worst of ${rss.ours.length} runs)`,
        ratio: NaN,
        verdict: worst < 150 ? 'met' : 'MISSED',
        detail: `ours peaked at ${fmt(worst, 0)} MB (baseline ${fmt(
          med(rss.ours, (r) => r.baselineMB),
          0,
        )} MB)`,
      });
    }
  }

  if (hasDist && hasOurs) {
    const pp = uploads['post-put'];
    if (pp) {
      const r = med(pp.distribution, (x) => x.seconds) / med(pp.ours, (x) => x.seconds);
      verdicts.unshift(twiceAsFast('upload at least 2x faster (same form both sides: POST + PUT)', r));
      const best = Math.min(
        ...FORMS.map((f) => med(uploads[f]?.ours, (x) => x.seconds)).filter((x) => Number.isFinite(x)),
      );
      const rb = med(pp.distribution, (x) => x.seconds) / best;
      verdicts.splice(
        1,
        0,
        twiceAsFast("upload at least 2x faster (ours' best form vs Distribution's monolithic)", rb),
      );
    }
    for (const mode of ['verify', 'discard']) {
      const d = downloads[mode];
      if (!d) continue;
      const r = med(d.distribution, (x) => x.seconds) / med(d.ours, (x) => x.seconds);
      verdicts.push(noSlower(`download (${mode}) no slower`, r));
    }
  }

  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ');
  console.log(`\n${line(head)}\n${widths.map((w) => '-'.repeat(w)).join('-|-')}`);
  for (const r of rows) console.log(line(r));
  console.log(
    '\nratios: time and memory are Distribution / ours, throughput is ours / Distribution: above 1 ours is better.',
  );
  if (verdicts.length) {
    console.log('\ntargets:');
    for (const v of verdicts) console.log(`  ${v.verdict.padEnd(24)} ${v.target} (${v.detail})`);
  }
  return verdicts;
}

function ratioCell(r: number, kind: 'time' | 'size'): string {
  if (!Number.isFinite(r)) return '';
  return kind === 'time'
    ? `${fmt(r)}x ${r >= 1 ? 'faster' : 'slower'}`
    : `${fmt(r)}x ${r >= 1 ? 'smaller' : 'larger'}`;
}

/** "No slower": met at >= 1; within 5% below is reported as such (run-to-run noise here is larger). */
function noSlower(target: string, ratio: number): Verdict {
  const verdict = ratio >= 1 ? 'met' : ratio >= 0.95 ? 'missed by < 5% (noise?)' : 'MISSED';
  return { target, ratio, verdict, detail: `${fmt(ratio)}x` };
}

/** "At least 2x faster": met at a ratio of 2 or more. */
function twiceAsFast(target: string, ratio: number): Verdict {
  return { target, ratio, verdict: ratio >= 2 ? 'met' : 'MISSED', detail: `${fmt(ratio)}x` };
}
