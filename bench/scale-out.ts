// Scale-out benchmark: our registry on S3 (SeaweedFS) + PostgreSQL against our registry on its
// embedded defaults (filesystem + SQLite) and against Distribution v3.1.1 with its S3 driver on the
// same SeaweedFS bucket (serving the bytes itself: redirects off, as ours), side by side in one run,
// the same client code (the registry benchmark's phases) against all three, figures and the ratios
// S3 / fs and ours / v3.1.1 (both on S3) printed (never asserted).
// Run it through bench/scale-out.sh, which starts a private PostgreSQL and SeaweedFS, creates a
// fresh database, compiles this entry point with the project's tsc and sets the BENCH_* variables
// (config.ts, and the BENCH_S3_JSON, BENCH_POSTGRES_* and BENCH_SEAWEEDFS_* ones read below);
// bench/README.md explains the method.
//
// Measurements, each repeated BENCH_RUNS times (median reported), the two nodes interleaved:
//   upload    512 MiB blob: POST ?digest= (one request), POST+PUT (monolithic), POST+PATCH+PUT
//   chunked   512 MiB blob in 16 MiB PATCH chunks with Content-Range
//   download  the uploaded blob: GET with the digest verified while reading, and GET discarding
//   small     HEAD blob, GET manifest: BENCH_CONCURRENCY (100 here) concurrent keep-alive connections
//   pulls     100 concurrent clients pulling a small image (manifest, config, 2 layers)
//   rss       both nodes restarted, then VmRSS sampled every 100 ms while 2 GiB is pushed in 16 MiB
//             PATCH chunks and pulled back
// For every phase it also records the CPU that SeaweedFS and PostgreSQL used, which the S3 node's
// own CPU figure does not hold. --quick (BENCH_QUICK=1) shrinks all of these (config.ts).
import { cfg, MB, MiB, stamp, startedAt, type ServerKey } from './config.js'; // first: it checks the settings
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import type { Blob } from './blob-content.js';
import { fmt, say } from './format.js';
import { hostInfo } from './host-info.js';
import { procStatusMB, type TimedResults, type TimedRun } from './measure.js';
import type { LoadResult } from './load-generators.js';
import { add, row, type MetricRow, type MetricSection } from './metrics.js';
import { printNoiseSummary } from './noise.js';
import { printTable } from './report.js';
import { measureChunked } from './phase-chunked.js';
import { measureDownloads } from './phase-download.js';
import { measurePulls } from './phase-pulls.js';
import { measureChunkedRss, type ChunkedRssRun } from './phase-rss-chunked.js';
import { measureSmallRequests, type SmallResults } from './phase-small.js';
import { FORM_LABEL, FORMS, measureUploads } from './phase-upload.js';
import {
  startDistribution,
  startOurs,
  stopRegistriesOnExit,
  stopServer,
  waitReady,
  type Server,
} from './servers.js';
import { settleLog } from './settle.js';
import { median } from './stats.js';

stopRegistriesOnExit();

/**
 * The S3 node's key in the results. config.ts knows only the registry benchmark's servers (ours and
 * the Distributions); the phases use a server's key only to file its results, so any string works.
 */
const S3: ServerKey = 's3' as ServerKey;
const FS: ServerKey = 'ours';
const D3: ServerKey = 'distribution3';
const LABEL: Record<string, string> = {
  [FS]: 'fs + SQLite',
  [S3]: 'S3 + PostgreSQL',
  [D3]: 'Distribution v3.1.1, S3',
};
const PHASES = ['upload', 'chunked', 'download', 'small', 'pulls', 'rss'];

function required(name: string): string {
  const v = process.env[name];
  if (!v) {
    console.error(`${name} is not set: run this through bench/scale-out.sh`);
    process.exit(64);
  }
  return v;
}

interface S3Connection {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}
const s3 = JSON.parse(required('BENCH_S3_JSON')) as S3Connection;
const engines = {
  postgres: {
    url: required('BENCH_POSTGRES_URL'),
    version: process.env.BENCH_POSTGRES_VERSION ?? '',
    pid: Number(required('BENCH_POSTGRES_PID')),
  },
  seaweedfs: {
    endpoint: s3.endpoint,
    bucket: s3.bucket,
    prefix: `bench-${stamp}/`,
    version: process.env.BENCH_SEAWEEDFS_VERSION ?? '',
    pid: Number(required('BENCH_SEAWEEDFS_PID')),
  },
};
const runDir = required('BENCH_RUN_DIR');
const commit = process.env.BENCH_COMMIT || 'unknown';

/** The S3 + PostgreSQL node: `opencloud serve` as for the other node, with the run's database and a fresh key prefix in the run's bucket. */
async function startS3Node(): Promise<Server> {
  const server = await startOurs('s3', {
    OPENCLOUD_STATE_POSTGRES_URL: engines.postgres.url,
    OPENCLOUD_STORAGE_S3_BUCKET: s3.bucket,
    OPENCLOUD_STORAGE_S3_ENDPOINT: s3.endpoint,
    OPENCLOUD_STORAGE_S3_REGION: s3.region || 'us-east-1',
    OPENCLOUD_STORAGE_S3_ACCESS_KEY_ID: s3.accessKeyId,
    OPENCLOUD_STORAGE_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    OPENCLOUD_STORAGE_S3_PREFIX: engines.seaweedfs.prefix,
  });
  return { ...server, key: S3, label: LABEL[S3] as string };
}

async function startFsNode(): Promise<Server> {
  return { ...(await startOurs('fs')), label: LABEL[FS] as string };
}

/** Distribution v3.1.1 on the same bucket under its own prefix, its S3 driver as documented for
 *  S3-compatible stores (path-style, plain HTTP), serving blobs itself (`redirect: disable`). */
async function startD3Node(): Promise<Server> {
  const driver = [
    '  s3:',
    `    accesskey: ${s3.accessKeyId}`,
    `    secretkey: ${s3.secretAccessKey}`,
    `    region: ${s3.region || 'us-east-1'}`,
    `    regionendpoint: ${s3.endpoint}`,
    `    bucket: ${s3.bucket}`,
    `    rootdirectory: /${engines.seaweedfs.prefix}distribution3`,
    '    forcepathstyle: true',
    `    secure: ${s3.endpoint.startsWith('https:')}`,
    '  redirect:',
    '    disable: true',
  ];
  return { ...(await startDistribution('distribution3', 'dist3-s3', driver)), label: LABEL[D3] as string };
}

const startNode = (key: ServerKey) =>
  key === S3 ? startS3Node() : key === D3 ? startD3Node() : startFsNode();

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim()) || 100;

/** Fields after the command name in /proc/<pid>/stat: [1] ppid, [11] utime, [12] stime, [13] cutime, [14] cstime. */
function statFields(pid: number | string): number[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
}

/**
 * CPU seconds of an engine: the process with the children it has reaped, plus those it has now.
 * PostgreSQL's backends come and go (the node's pool closes idle connections), and a backend's CPU
 * moves into the postmaster's cutime/cstime when it exits, so the sum is steady across that.
 */
function engineCpuSeconds(pid: number): number {
  try {
    const f = statFields(pid);
    let ticks = (f[11] ?? 0) + (f[12] ?? 0) + (f[13] ?? 0) + (f[14] ?? 0);
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const c = statFields(d);
        if (c[1] === pid) ticks += (c[11] ?? 0) + (c[12] ?? 0);
      } catch {
        // gone in between
      }
    }
    return ticks / CLK_TCK;
  } catch {
    return NaN;
  }
}

interface EngineCpu {
  seaweedfsS: number;
  postgresS: number;
}
function engineCpu(): EngineCpu {
  return {
    seaweedfsS: engineCpuSeconds(engines.seaweedfs.pid),
    postgresS: engineCpuSeconds(engines.postgres.pid),
  };
}

/** Per server: one value per run. */
type Values = Partial<Record<ServerKey, number[]>>;

/** A table row from values already collected (the phases' own rows are built as they run). */
function rowOf(
  label: string,
  unit: string,
  better: 'lower' | 'higher',
  digits: number,
  values: Values,
): MetricRow {
  const r = row(label, unit, better, digits);
  for (const [k, xs] of Object.entries(values) as [ServerKey, number[]][]) for (const x of xs) add(r, k, x);
  return r;
}

/** `f` of every run, by server. */
const valuesOf = <T>(byServer: Record<string, T[]>, f: (r: T) => number): Values =>
  Object.fromEntries(Object.entries(byServer).map(([k, runs]) => [k, runs.map(f)]));

/** Throughput and registry-CPU rows of the upload or download results (a pair per form or mode). */
function timedRows(data: TimedResults, labels: [string, string][]): MetricRow[] {
  return labels
    .filter(([key]) => data[key])
    .flatMap(([key, label]) => {
      const d = data[key] as Record<string, TimedRun[]>;
      return [
        rowOf(
          label,
          'MB/s',
          'higher',
          0,
          valuesOf(d, (r) => r.mbPerS),
        ),
        rowOf(
          '  node CPU',
          's',
          'lower',
          2,
          valuesOf(d, (r) => r.serverCpuS),
        ),
      ];
    });
}

/** Rows of the small-request results: req/s, p50 and p99 per request kind (and failures, if any). */
function smallRows(small: SmallResults): MetricRow[] {
  const kinds: [string, string][] = [
    ['head-blob', `HEAD blob (${cfg.smallRequests} requests)`],
    ['get-manifest', `GET manifest by tag (${cfg.smallRequests} requests)`],
  ];
  return kinds
    .filter(([kind]) => small[kind])
    .flatMap(([kind, label]) => {
      const d = small[kind] as Record<string, LoadResult[]>;
      const failed = valuesOf(d, (r) => r.errors);
      return [
        rowOf(
          label,
          'req/s',
          'higher',
          0,
          valuesOf(d, (r) => r.rps),
        ),
        rowOf(
          '  p50 latency',
          'ms',
          'lower',
          2,
          valuesOf(d, (r) => r.p50ms),
        ),
        rowOf(
          '  p99 latency',
          'ms',
          'lower',
          2,
          valuesOf(d, (r) => r.p99ms),
        ),
        ...(Object.values(failed).some((xs) => xs.some((x) => x > 0))
          ? [rowOf('  failed requests', '', 'lower', 0, failed)]
          : []),
      ];
    });
}

/** The memory rows: [field, label, unit, better, digits]. */
const RSS_ROWS: [keyof ChunkedRssRun, string, string, 'lower' | 'higher', number][] = [
  ['baselineMB', 'idle before', 'MB', 'lower', 0],
  ['pushPeakMB', 'peak during the chunked push', 'MB', 'lower', 0],
  ['pullPeakMB', 'peak during the pull', 'MB', 'lower', 0],
  ['hwmMB', 'kernel high-water mark (push and pull)', 'MB', 'lower', 0],
  ['afterMB', 'idle after', 'MB', 'lower', 0],
  ['pushSeconds', 'push: time', 's', 'lower', 2],
  ['pullSeconds', 'pull: time', 's', 'lower', 2],
];

/** What the phases measured; the JSON holds it all. */
interface Measured {
  uploads?: TimedResults;
  singlePostSupported?: Record<string, boolean>;
  chunked?: MetricSection;
  downloads?: TimedResults;
  small?: SmallResults;
  pulls?: MetricSection;
  /** By server: RSS and lifetime high-water mark (MB) after the earlier phases, before the restart. */
  rssAfterEarlierPhases?: Record<string, { rssMB: number; hwmMB: number }>;
  rss?: Record<string, ChunkedRssRun>;
  /** By phase: what SeaweedFS and PostgreSQL used while it ran. */
  engineCpu: Record<string, EngineCpu>;
  /** The nodes measured, by key. */
  nodes: ServerKey[];
  phaseSeconds: Record<string, number>;
}

/** The table's sections, in phase order, each closed by the engines' CPU rows of its phase. */
function sectionsOf(m: Measured): MetricSection[] {
  const sections: MetricSection[] = [];
  /** Nodes on S3: ours, and Distribution's when it runs. SeaweedFS's CPU is shared by them. */
  const onS3 = m.nodes.filter((k) => k !== FS).length;
  /** Measurements of the nodes on S3 in a phase (each node runs as many). */
  const runsOf = (byServer: Record<string, unknown[]> | undefined) =>
    (byServer?.[S3]?.length ?? 0) + (byServer?.[D3]?.length ?? 0);
  /** The engines' CPU during a phase: SeaweedFS's per measurement of a node on S3, PostgreSQL's
   *  (which only our S3 node uses) per measurement of that node. */
  const engineRows = (phase: string, measurements: number): MetricRow[] => {
    const cpu = m.engineCpu[phase];
    if (!cpu || !measurements) return [];
    const ours = measurements / onS3;
    const per = (s: number, n: number) => ({ [S3]: [s / n] });
    return [
      rowOf(
        `  SeaweedFS CPU per measurement (phase total / ${measurements})`,
        's',
        'lower',
        2,
        per(cpu.seaweedfsS, measurements),
      ),
      rowOf(
        `  PostgreSQL CPU per measurement (phase total / ${ours})`,
        's',
        'lower',
        2,
        per(cpu.postgresS, ours),
      ),
    ];
  };
  const { uploads, chunked, downloads, small, pulls, rss, rssAfterEarlierPhases: before } = m;
  if (uploads) {
    sections.push({
      title: `upload ${cfg.blobMiB} MiB: throughput, and the registry process's CPU`,
      rows: [
        ...timedRows(
          uploads,
          FORMS.map((f) => [f, FORM_LABEL[f]]),
        ),
        ...engineRows(
          'upload',
          FORMS.reduce((a, f) => a + runsOf(uploads[f]), 0),
        ),
      ],
    });
  }
  if (chunked)
    sections.push({ ...chunked, rows: [...chunked.rows, ...engineRows('chunked', cfg.runs * onS3)] });
  if (downloads) {
    sections.push({
      title: `download ${cfg.blobMiB} MiB (the blobs pushed as POST + PUT)`,
      rows: [
        ...timedRows(downloads, [
          ['verify', 'GET, sha256 verified while reading'],
          ['discard', 'GET, bytes discarded'],
        ]),
        ...engineRows('download', runsOf(downloads.verify) + runsOf(downloads.discard)),
      ],
    });
  }
  if (small) {
    sections.push({
      title: `small requests: ${cfg.concurrency} concurrent keep-alive connections (node client)`,
      rows: [
        ...smallRows(small),
        ...engineRows('small', runsOf(small['head-blob']) + runsOf(small['get-manifest'])),
      ],
    });
  }
  if (pulls) sections.push({ ...pulls, rows: [...pulls.rows, ...engineRows('pulls', cfg.runs * onS3)] });
  if (rss && before) {
    const one = (f: (r: ChunkedRssRun) => number): Values =>
      Object.fromEntries(Object.entries(rss).map(([k, r]) => [k, [f(r)]]));
    const mbps = (s: number) => (cfg.rssMiB * MiB) / MB / s;
    const afterPhases: Values = Object.fromEntries(Object.entries(before).map(([k, v]) => [k, [v.rssMB]]));
    sections.push({
      title:
        `resident memory (MB = 10^6 bytes), freshly started: ${cfg.rssMiB} MiB pushed in ` +
        `${Math.ceil(cfg.rssMiB / cfg.chunkMiB)} PATCHes of ${cfg.chunkMiB} MiB, then pulled`,
      rows: [
        rowOf('RSS after the phases above, before the restart', 'MB', 'lower', 0, afterPhases),
        ...RSS_ROWS.map(([field, label, unit, better, digits]) =>
          rowOf(
            label,
            unit,
            better,
            digits,
            one((r) => r[field]),
          ),
        ),
        rowOf(
          'push: throughput',
          'MB/s',
          'higher',
          0,
          one((r) => mbps(r.pushSeconds)),
        ),
        rowOf(
          'pull: throughput',
          'MB/s',
          'higher',
          0,
          one((r) => mbps(r.pullSeconds)),
        ),
        ...engineRows('rss', onS3),
      ],
    });
  }
  return sections;
}

/** `a` / `b` of the medians, with which way that is for `a` on this row. */
function quotient(r: MetricRow, a: ServerKey, b: ServerKey): string {
  const q = median(r.values[a] ?? []) / median(r.values[b] ?? []);
  if (!Number.isFinite(q)) return '';
  const shown = Number(fmt(q));
  const way = shown === 1 ? 'same' : shown > 1 === (r.better === 'higher') ? 'better' : 'worse';
  return `${fmt(q)}x (${way})`;
}

/** The table: a column per node, then S3 / fs and ours / Distribution (both on S3) of the medians. */
function printComparison(sections: MetricSection[], servers: Server[]): void {
  const keys = servers.map((s) => s.key);
  const withD3 = keys.includes(D3);
  const head = [
    `measurement (median of ${cfg.runs} run${cfg.runs > 1 ? 's' : ''} (min-max))`,
    ...servers.map((s) => s.label),
    'S3 / fs',
    ...(withD3 ? ['ours / v3.1.1, both S3'] : []),
  ];
  const rows: string[][] = [];
  for (const sec of sections) {
    rows.push([sec.title, ...keys.map(() => ''), '', ...(withD3 ? [''] : [])]);
    for (const r of sec.rows) {
      const m = (k: ServerKey) => median(r.values[k] ?? []);
      const cell = (k: ServerKey) => {
        const xs = r.values[k] ?? [];
        if (!xs.length) return r.notes?.[k] ?? '';
        const range =
          xs.length > 1 ? ` (${fmt(Math.min(...xs), r.digits)}-${fmt(Math.max(...xs), r.digits)})` : '';
        return [fmt(m(k), r.digits), r.unit].filter(Boolean).join(' ') + range;
      };
      rows.push([
        `  ${r.label}`,
        ...keys.map(cell),
        quotient(r, S3, FS),
        ...(withD3 ? [quotient(r, S3, D3)] : []),
      ]);
    }
  }
  printTable(head, rows);
  console.log(
    '\nS3 / fs: the S3 + PostgreSQL median divided by the fs + SQLite one; (better) or (worse) says which way that is for the S3 node.' +
      '\nours / v3.1.1: our S3 + PostgreSQL node against Distribution v3.1.1 on the same SeaweedFS, the same way round.' +
      '\nnode CPU is the registry process alone; the SeaweedFS and PostgreSQL rows are what the engines used besides, on the same CPUs.',
  );
}

/** The settings that matter here (config.ts also holds the registry benchmark's other knobs). */
const usedConfig = () => {
  const { quick, runs, blobMiB, chunkMiB, rssMiB, concurrency, smallRequests, smallWarmup, pullClients } =
    cfg;
  const { quietCpus, quietMaxS, quietBudgetS, warmPages, logLevel, oursNodeFlags, opencloudBin } = cfg;
  const phases = cfg.phases.filter((p) => PHASES.includes(p));
  return {
    ...{ quick, runs, blobMiB, chunkMiB, rssMiB, concurrency, smallRequests, smallWarmup, pullClients },
    ...{ quietCpus, quietMaxS, quietBudgetS, warmPages, logLevel, oursNodeFlags, opencloudBin, phases },
  };
};

/** Both nodes, then the phases BENCH_ONLY wants, in order (upload also when only download is wanted). */
async function measure(servers: Server[]): Promise<Measured> {
  const size = cfg.blobMiB * MiB;
  const m: Measured = { engineCpu: {}, phaseSeconds: {}, nodes: servers.map((s) => s.key) };
  /** Runs a phase when wanted; records how long it took and what the engines used meanwhile. */
  const phase = async (name: string, fn: () => Promise<void>, wanted = cfg.phases.includes(name)) => {
    if (!wanted) return;
    const t = performance.now();
    const cpu0 = engineCpu();
    say(`phase ${name}`);
    await fn();
    const cpu1 = engineCpu();
    const round = (s: number) => Math.round(s * 100) / 100;
    m.engineCpu[name] = {
      seaweedfsS: round(cpu1.seaweedfsS - cpu0.seaweedfsS),
      postgresS: round(cpu1.postgresS - cpu0.postgresS),
    };
    m.phaseSeconds[name] = Math.round((performance.now() - t) / 100) / 10;
    say(`phase ${name} took ${m.phaseSeconds[name]} s`);
  };

  let uploaded = new Map<string, Blob[]>();
  const uploadWanted = cfg.phases.includes('upload') || cfg.phases.includes('download');
  await phase(
    'upload',
    async () => {
      const u = await measureUploads(servers, size);
      ({ uploads: m.uploads, singlePost: m.singlePostSupported, uploaded } = u);
    },
    uploadWanted,
  );
  await phase('chunked', async () => {
    m.chunked = await measureChunked(servers, size);
  });
  await phase('download', async () => {
    m.downloads = await measureDownloads(servers, size, uploaded);
  });
  await phase('small', async () => {
    m.small = await measureSmallRequests(servers);
  });
  await phase('pulls', async () => {
    m.pulls = await measurePulls(servers);
  });
  await phase('rss', async () => {
    // What the earlier phases left, then both restarted (same data dir, database and prefix); the
    // array is updated in place, so the caller stops the fresh ones.
    const before: Record<string, { rssMB: number; hwmMB: number }> = {};
    for (const [i, s] of servers.entries()) {
      before[s.key] = { rssMB: procStatusMB(s.pid, 'VmRSS'), hwmMB: procStatusMB(s.pid, 'VmHWM') };
      say(`${s.label} after the earlier phases: RSS ${fmt(before[s.key]?.rssMB ?? NaN, 0)} MB; restarting`);
      await stopServer(s);
      const fresh = await startNode(s.key);
      servers[i] = fresh;
      await waitReady(fresh);
    }
    m.rssAfterEarlierPhases = before;
    m.rss = await measureChunkedRss(servers);
  });
  return m;
}

async function main(): Promise<void> {
  const t0 = performance.now();
  mkdirSync(cfg.resultsDir, { recursive: true });
  const host = hostInfo();
  const machine =
    `${host.cpu}, ${host.cpus} CPUs, ${Math.round(host.memMB / 1000)} GB RAM, ${host.disk}; ` +
    `node ${host.node}, kernel ${host.kernel}; ` +
    `PostgreSQL ${engines.postgres.version}, SeaweedFS ${engines.seaweedfs.version}`;
  say(`machine: ${machine}; load ${host.loadavgAtStart.map((l) => l.toFixed(2))}`);
  if (cfg.quick) say('quick mode: small sizes, one run, short loads (the numbers are only a smoke check)');
  const other = cfg.phases.filter((p) => !PHASES.includes(p));
  if (process.env.BENCH_ONLY && other.length) say(`not part of this benchmark: ${other.join(', ')}`);

  const servers: Server[] = [];
  let measured: Measured | undefined;
  try {
    servers.push(await startFsNode(), await startS3Node());
    if (cfg.distribution3Bin) servers.push(await startD3Node());
    else say(`Distribution v3.1.1 is not measured: ${cfg.distribution3Why}`);
    for (const s of servers) await waitReady(s);
    for (const s of servers) say(`${s.label}: ${s.version} at ${s.url.origin} (pid ${s.pid})`);
    measured = await measure(servers);
  } finally {
    for (const s of servers) await stopServer(s);
  }

  const sections = sectionsOf(measured);
  printComparison(sections, servers);
  console.log(`\nmachine: ${machine}\ncommit: ${commit}; started ${startedAt.toISOString()}`);
  const results: Record<string, unknown> = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    commit,
    machine,
    host,
    engines: {
      postgres: { url: engines.postgres.url, version: engines.postgres.version },
      seaweedfs: { ...engines.seaweedfs, pid: undefined },
    },
    config: usedConfig(),
    servers: Object.fromEntries(servers.map((s) => [s.key, { label: s.label, version: s.version }])),
    ...measured,
    sections,
    loadavgAtEnd: os.loadavg(),
    settle: settleLog,
  };
  printNoiseSummary(results);
  const total = (performance.now() - t0) / 1000;
  results.totalSeconds = Math.round(total);
  console.log(
    `\ntook ${Math.round(total)} s (${Object.entries(measured.phaseSeconds)
      .map(([k, v]) => `${k} ${Math.round(v)}`)
      .join(', ')})`,
  );
  const json = `${JSON.stringify(results, null, 2)}\n`;
  writeFileSync(join(runDir, 'results.json'), json);
  const file = join(cfg.resultsDir, `scale-out-${stamp}.json`);
  writeFileSync(file, json);
  console.log(`\nresults: ${join(runDir, 'results.json')} and ${file}`);
}

main().catch((err: unknown) => {
  console.error(`[bench] failed: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
