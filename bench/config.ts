// Benchmark configuration: the BENCH_* environment variables (run.sh sets the paths, bench/README.md
// lists the knobs), checked once at start, and the run's timestamp that names its result files.
import { join } from 'node:path';

export const MiB = 1024 * 1024;
export const MB = 1e6;

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name}=${raw}: expected a positive integer`);
  return n;
}

function envList(name: string, all: readonly string[]): string[] {
  const raw = process.env[name];
  if (!raw) return [...all];
  const list = raw.split(',').map((s) => s.trim());
  for (const item of list) if (!all.includes(item)) throw new Error(`${name}: unknown ${item}; use ${all}`);
  return list;
}

const PHASES = ['reference', 'upload', 'download', 'small', 'rss'] as const;
const SERVER_KEYS = ['ours', 'distribution'] as const;
export type ServerKey = (typeof SERVER_KEYS)[number];

export const cfg = {
  runs: envInt('BENCH_RUNS', 3),
  blobMiB: envInt('BENCH_BLOB_MIB', 512),
  rssMiB: envInt('BENCH_RSS_MIB', 2048),
  rssRuns: envInt('BENCH_RSS_RUNS', envInt('BENCH_RUNS', 3)),
  concurrency: envInt('BENCH_CONCURRENCY', 50),
  smallRequests: envInt('BENCH_SMALL_REQUESTS', 20_000),
  smallWarmup: envInt('BENCH_SMALL_WARMUP', 2_000),
  wrkSeconds: envInt('BENCH_WRK_SECONDS', 10),
  quietCpus: Number(process.env.BENCH_QUIET_CPUS || 0.25),
  quietMaxS: envInt('BENCH_QUIET_MAX_S', 20),
  warmPages: process.env.BENCH_WARM_PAGES !== '0',
  phases: envList('BENCH_ONLY', PHASES),
  servers: envList('BENCH_SERVERS', SERVER_KEYS) as ServerKey[],
  logLevel: process.env.BENCH_LOG_LEVEL || 'info',
  profile: process.env.BENCH_PROFILE === '1',
  oursNodeFlags: (process.env.BENCH_OURS_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean),
  work: process.env.BENCH_WORK || '',
  opencloudBin: process.env.BENCH_OPENCLOUD_BIN || '',
  distributionBin: process.env.BENCH_DISTRIBUTION_BIN || '/usr/bin/docker-registry',
  wrk: process.env.BENCH_WRK || '',
  resultsDir: process.env.BENCH_RESULTS_DIR || '/tmp/opencloud-bench-results',
};

// Checked when this module loads (registry.ts imports it first): a wrong setting stops the run
// with exit status 64 before anything starts.
if (!cfg.work || !cfg.opencloudBin) {
  console.error('run this through bench/run.sh (BENCH_WORK and BENCH_OPENCLOUD_BIN are not set)');
  process.exit(64);
}
if (!['info', 'warn', 'error'].includes(cfg.logLevel)) {
  console.error(`BENCH_LOG_LEVEL=${cfg.logLevel}: use info, warn or error (both servers understand those)`);
  process.exit(64);
}

/** The run's start; `stamp` names the results JSON and the profile directory. */
export const startedAt = new Date();
export const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
export const profileDir = join(cfg.resultsDir, `profile-${stamp}`);
