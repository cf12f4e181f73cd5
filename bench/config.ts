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

const PHASES = [
  'reference',
  'upload',
  'chunked',
  'download',
  'range',
  'small',
  'crowd',
  'auth',
  'pulls',
  'clients',
  'startup',
  'ui',
  'rss',
] as const;
const SERVER_KEYS = ['ours', 'distribution', 'distribution3'] as const;
export type ServerKey = (typeof SERVER_KEYS)[number];
/** The peers, in table order: every ratio is ours against each of them. */
export const PEER_KEYS: ServerKey[] = ['distribution', 'distribution3'];

/** `--quick` (run.sh) or BENCH_QUICK=1: small sizes, one run, short loads; the same table. */
export const quick = process.env.BENCH_QUICK === '1';
/** The full-mode default, or the quick-mode one; an explicit BENCH_* variable wins in both. */
const q = (full: number, small: number) => (quick ? small : full);

export const cfg = {
  quick,
  runs: envInt('BENCH_RUNS', q(3, 1)),
  /** The reference phase measures this machine, not a registry: one run keeps the total short. */
  referenceRuns: envInt('BENCH_REFERENCE_RUNS', 1),
  blobMiB: envInt('BENCH_BLOB_MIB', q(512, 32)),
  chunkMiB: envInt('BENCH_CHUNK_MIB', q(16, 4)),
  rangeRequests: envInt('BENCH_RANGE_REQUESTS', q(1000, 100)),
  rangeKiB: envInt('BENCH_RANGE_KIB', 1024),
  rangeConcurrency: envInt('BENCH_RANGE_CONCURRENCY', 4),
  startupRuns: envInt('BENCH_STARTUP_RUNS', q(5, 3)),
  uiRuns: envInt('BENCH_UI_RUNS', q(5, 2)),
  pullClients: envInt('BENCH_PULL_CLIENTS', 100),
  clientLayers: envInt('BENCH_CLIENT_LAYERS', 20),
  clientLayerKiB: envInt('BENCH_CLIENT_LAYER_KIB', q(1024, 128)),
  rssMiB: envInt('BENCH_RSS_MIB', q(2048, 64)),
  rssRuns: envInt('BENCH_RSS_RUNS', 1),
  concurrency: envInt('BENCH_CONCURRENCY', 50),
  smallRequests: envInt('BENCH_SMALL_REQUESTS', q(3_000, 1_000)),
  smallWarmup: envInt('BENCH_SMALL_WARMUP', q(3_000, 200)),
  /** The auth phase compares two close figures: longer loads than the small phase's keep its noise below the difference. */
  authRequests: envInt('BENCH_AUTH_REQUESTS', q(20_000, 1_000)),
  wrkSeconds: envInt('BENCH_WRK_SECONDS', q(3, 1)),
  crowdConnections: envInt('BENCH_CROWD_CONNECTIONS', q(1000, 200)),
  crowdSeconds: envInt('BENCH_CROWD_SECONDS', q(10, 1)),
  quietCpus: Number(process.env.BENCH_QUIET_CPUS || 0.25),
  quietMaxS: envInt('BENCH_QUIET_MAX_S', q(10, 1)),
  quietBudgetS: envInt('BENCH_QUIET_BUDGET_S', q(60, 10)),
  warmPages: process.env.BENCH_WARM_PAGES !== '0',
  phases: envList('BENCH_ONLY', PHASES),
  servers: envList('BENCH_SERVERS', SERVER_KEYS) as ServerKey[],
  logLevel: process.env.BENCH_LOG_LEVEL || 'info',
  profile: process.env.BENCH_PROFILE === '1',
  oursNodeFlags: (process.env.BENCH_OURS_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean),
  work: process.env.BENCH_WORK || '',
  opencloudBin: process.env.BENCH_OPENCLOUD_BIN || '',
  distributionBin: process.env.BENCH_DISTRIBUTION_BIN || '/usr/bin/docker-registry',
  /** Distribution v3.1.1 built by run.sh; empty when the build failed (BENCH_DISTRIBUTION3_WHY). */
  distribution3Bin: process.env.BENCH_DISTRIBUTION3_BIN || '',
  distribution3Why: process.env.BENCH_DISTRIBUTION3_WHY || 'BENCH_DISTRIBUTION3_BIN is not set',
  skopeo: process.env.BENCH_SKOPEO || '',
  crane: process.env.BENCH_CRANE || '',
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
