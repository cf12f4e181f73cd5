// The results table on stdout: medians over the runs, a column per server (ours, Distribution 2.8,
// Distribution 3.1), then a ratio column per peer where above 1 means ours is better; then the
// issue's targets judged against each peer (met / MISSED), returned as verdicts for the results JSON.
import { cfg, MB, type ServerKey } from './config.js';
import { fmt } from './format.js';
import type { MetricSection } from './metrics.js';
import type { TimedResults } from './measure.js';
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

/** The results of the generic phases, by phase name (chunked, range, pulls, clients, startup). */
export type GenericResults = Partial<Record<string, MetricSection[]>>;

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
  generic: GenericResults = {},
): Verdict[] {
  const keys = servers.map((s) => s.key);
  const hasOurs = keys.includes('ours');
  // A ratio column for every peer that runs, when ours runs too.
  const peers = hasOurs ? servers.filter((s) => s.key !== 'ours') : [];
  const rows: string[][] = [];
  const head = [
    `measurement (median of ${cfg.runs} run${cfg.runs > 1 ? 's' : ''}; ratios >1: ours better)`,
    ...servers.map((s) => s.label),
    ...peers.map((p) => `ours vs ${p.label}`),
  ];
  const blank = () => head.slice(1).map(() => '');
  const section = (title: string) => rows.push([title, ...blank()]);
  const med = <T>(xs: T[] | undefined, f: (x: T) => number) => median((xs ?? []).map(f));
  /** Cells per server, then ratio cells per peer from a "peer vs ours" function. */
  const push = (label: string, cell: (k: ServerKey) => string, ratio: (peer: ServerKey) => string) =>
    rows.push([`  ${label}`, ...keys.map(cell), ...peers.map((p) => ratio(p.key))]);
  const memoryRow = (label: string, mb: (k: ServerKey) => number) =>
    push(
      label,
      (k) => `${fmt(mb(k), 0)} MB`,
      (p) => ratioCell(mb(p) / mb('ours'), 'size'),
    );
  const verdicts: Verdict[] = [];
  const genericSections = (phase: string) => {
    for (const sec of generic[phase] ?? []) {
      section(sec.title);
      if (sec.skipped) rows.push([`  skipped: ${sec.skipped}`, ...blank()]);
      for (const r of sec.rows) {
        const m = (k: ServerKey) => median(r.values[k] ?? []);
        const kind = r.unit === 'MB' ? 'size' : /CPU/.test(r.label) ? 'cpu' : 'time';
        push(
          r.label,
          (k) => {
            const xs = r.values[k] ?? [];
            if (!xs.length) return r.notes?.[k] ?? 'n/a';
            const range =
              xs.length > 1 ? ` (${fmt(Math.min(...xs), r.digits)}-${fmt(Math.max(...xs), r.digits)})` : '';
            return `${fmt(m(k), r.digits)} ${r.unit}${range}`;
          },
          (p) => ratioCell(r.better === 'lower' ? m(p) / m('ours') : m('ours') / m(p), kind),
        );
      }
    }
  };

  if (Object.keys(reference).length) {
    section(`reference: ${cfg.blobMiB} MiB in this Node process, on this disk`);
    for (const [kind, label] of Object.entries(REFERENCE_LABEL) as [ReferenceKind, string][]) {
      const s = median(reference[kind] ?? []);
      if (Number.isFinite(s)) {
        const cells = blank();
        cells[0] = `${fmt(s)} s  ${fmt(size / MB / s, 0)} MB/s`;
        rows.push([`  ${label}`, ...cells]);
      }
    }
  }

  const timedRows = (title: string, data: TimedResults, list: [string, string][]) => {
    if (!Object.keys(data).length) return;
    section(title);
    for (const [key, label] of list) {
      const d = data[key];
      if (!d) continue;
      const secs = (k: ServerKey) => med(d[k], (r) => r.seconds);
      const cell = (k: ServerKey) => {
        const runs = d[k];
        if (!runs?.length)
          return key === 'post' && singlePost[k] === false ? 'n/a (202: no single-POST upload)' : 'n/a';
        const s = secs(k);
        const range =
          runs.length > 1
            ? ` (${fmt(Math.min(...runs.map((r) => r.seconds)))}-${fmt(Math.max(...runs.map((r) => r.seconds)))})`
            : '';
        return `${fmt(s)} s${range}  ${fmt(size / MB / s, 0)} MB/s  cpu ${fmt(med(runs, (r) => r.serverCpuS))} s`;
      };
      push(label, cell, (p) => ratioCell(secs(p) / secs('ours'), 'time'));
    }
  };
  timedRows(
    `upload ${cfg.blobMiB} MiB (wall time (min-max), MB/s, server CPU)`,
    uploads,
    FORMS.map((f) => [f, FORM_LABEL[f]]),
  );
  genericSections('chunked');
  timedRows(`download ${cfg.blobMiB} MiB (warm page cache)`, downloads, [
    ['verify', 'GET, sha256 verified while reading'],
    ['discard', 'GET, bytes discarded'],
  ]);
  genericSections('range');

  if (Object.keys(small).length) {
    section(`small requests: ${cfg.concurrency} concurrent keep-alive connections`);
    const labels: [string, string][] = [
      ['head-blob', `HEAD blob (node client, ${cfg.smallRequests} req)`],
      ['get-blob', `GET 4 KiB blob (node client, ${cfg.smallRequests} req)`],
      ['get-manifest', `GET manifest (node client, ${cfg.smallRequests} req)`],
      ['get-manifest-wrk', `GET manifest (wrk, ${cfg.wrkSeconds} s)`],
    ];
    for (const [key, label] of labels) {
      const d = small[key];
      if (!d) continue;
      const cell = (k: ServerKey) => {
        const runs = d[k];
        return runs?.length
          ? `${fmt(
              med(runs, (r) => r.rps),
              0,
            )} req/s  p50 ${fmt(med(runs, (r) => r.p50ms))}  p99 ${fmt(med(runs, (r) => r.p99ms))} ms` +
              (runs.some((r) => r.errors > 0) ? `  ERRORS ${runs.reduce((a, r) => a + r.errors, 0)}` : '')
          : 'n/a';
      };
      const rps = (p: ServerKey) => med(d.ours, (r) => r.rps) / med(d[p], (r) => r.rps);
      const p50 = (p: ServerKey) => med(d[p], (r) => r.p50ms) / med(d.ours, (r) => r.p50ms);
      const p99 = (p: ServerKey) => med(d[p], (r) => r.p99ms) / med(d.ours, (r) => r.p99ms);
      push(label, cell, (p) => `${fmt(rps(p))} req/s, ${fmt(p50(p))} p50, ${fmt(p99(p))} p99`);
      if (key !== 'get-manifest-wrk') {
        for (const p of peers) {
          verdicts.push(
            noSlower(`${label}: req/s no lower than ${p.label}`, rps(p.key)),
            noSlower(`${label}: p99 no higher than ${p.label}`, p99(p.key)),
          );
        }
      }
    }
  }
  genericSections('crowd');
  genericSections('auth');
  genericSections('pulls');
  genericSections('clients');
  genericSections('startup');
  genericSections('ui');

  if (Object.keys(rss).length) {
    if (Object.keys(afterLoad).length) {
      section('resident memory after the phases above, before a restart (MB = 10^6 bytes)');
      for (const [k, label] of [
        ['rssMB', 'RSS'],
        ['hwmMB', 'high-water mark over the whole life'],
      ] as const) {
        memoryRow(label, (s) => afterLoad[s]?.[k] ?? NaN);
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
    for (const [k, label] of rssRows) memoryRow(label, (s) => med(rss[s], (r) => r[k]));
    const pushS = (k: ServerKey) => med(rss[k], (r) => r.pushSeconds);
    const pullS = (k: ServerKey) => med(rss[k], (r) => r.pullSeconds);
    push(
      'push / pull time',
      (k) => `${fmt(pushS(k))} / ${fmt(pullS(k))} s`,
      (p) => `${fmt(pushS(p) / pushS('ours'))} / ${fmt(pullS(p) / pullS('ours'))}`,
    );
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

  for (const peer of peers) {
    const p = peer.key;
    const pp = uploads['post-put'];
    if (pp?.[p]?.length) {
      const r = med(pp[p], (x) => x.seconds) / med(pp.ours, (x) => x.seconds);
      verdicts.push(
        twiceAsFast(`upload at least 2x faster than ${peer.label} (same form both sides: POST + PUT)`, r),
      );
      const best = Math.min(
        ...FORMS.map((f) => med(uploads[f]?.ours, (x) => x.seconds)).filter((x) => Number.isFinite(x)),
      );
      const rb = med(pp[p], (x) => x.seconds) / best;
      verdicts.push(
        twiceAsFast(`upload at least 2x faster than ${peer.label} (ours' best form vs its monolithic)`, rb),
      );
    }
    for (const mode of ['verify', 'discard']) {
      const d = downloads[mode];
      if (!d?.[p]?.length) continue;
      const r = med(d[p], (x) => x.seconds) / med(d.ours, (x) => x.seconds);
      verdicts.push(noSlower(`download (${mode}) no slower than ${peer.label}`, r));
    }
  }

  printTable(head, rows);
  console.log(
    '\nratios: ours against each peer; for time, CPU and memory peer / ours, for throughput ours / peer: above 1 ours is better.',
  );
  if (verdicts.length) {
    console.log('\ntargets:');
    for (const v of verdicts) console.log(`  ${v.verdict.padEnd(24)} ${v.target} (${v.detail})`);
  }
  return verdicts;
}

function ratioCell(r: number, kind: 'time' | 'size' | 'cpu'): string {
  if (!Number.isFinite(r)) return '';
  const [good, bad] = {
    time: ['faster', 'slower'],
    size: ['smaller', 'larger'],
    cpu: ['less CPU', 'more CPU'],
  }[kind];
  return `${fmt(r)}x ${Number(fmt(r)) >= 1 ? good : bad}`; // as shown: 0.996 reads 1.00x, not worse
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

/** A table of padded columns: the header, a rule, the rows (shared by every benchmark report). */
export function printTable(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] as number))
      .join(' | ')
      .trimEnd();
  console.log(`\n${line(head)}\n${widths.map((w) => '-'.repeat(w)).join('-|-')}`);
  for (const r of rows) console.log(line(r));
}
