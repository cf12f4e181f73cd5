// Preparing the machine before each timed measurement: flush what the last one left dirty, wait for
// the rest of the machine to go quiet, and recycle page cache so both registries write into the
// same kind of pages. Also the set of pids whose CPU is ours, so it is not counted as noise.
import { spawnSync } from 'node:child_process';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { poolChunks } from './blob-content.js';
import { cfg, MiB } from './config.js';
import { cpuSeconds, hostBusySeconds } from './measure.js';

/** Flushes dirty pages left by the previous measurement (Distribution does not fsync), untimed. */
export function syncDisks(): void {
  spawnSync('sync', { timeout: 120_000 });
}

/** Pids whose CPU is ours (the registries under test), not noise from the rest of the machine. */
export const ownPids = new Set<number>();

/** How settling went: how long we waited for a quiet machine, and how often we gave up waiting. */
export const settleLog = { count: 0, waitedS: 0, extraWaitS: 0, gaveUp: 0, lastOtherCpus: [] as number[] };

/**
 * Before each timed measurement: flush dirty pages, then wait (up to BENCH_QUIET_MAX_S) until the
 * rest of the machine (other people's builds and tests) uses less than BENCH_QUIET_CPUS CPUs over
 * half a second. The noise that remains is recorded with every measurement (otherCpuPct). Once the
 * waits beyond the first half second add up to BENCH_QUIET_BUDGET_S over the whole run, it stops
 * waiting (one sample only), so a busy machine cannot stretch the run without bound.
 */
export async function settle(warmBytes = 0): Promise<void> {
  syncDisks();
  const t0 = performance.now();
  const left = Math.max(0, cfg.quietBudgetS - settleLog.extraWaitS);
  const deadline = Date.now() + Math.min(cfg.quietMaxS, left) * 1000;
  let other = NaN;
  while (true) {
    const ours = () => cpuSeconds('self') + [...ownPids].reduce((a, p) => a + (cpuSeconds(p) || 0), 0);
    const host0 = hostBusySeconds();
    const own0 = ours();
    const w0 = performance.now();
    await sleep(500);
    const wall = (performance.now() - w0) / 1000;
    other = Math.max(0, hostBusySeconds() - host0 - (ours() - own0)) / wall;
    if (other < cfg.quietCpus) break;
    if (Date.now() > deadline) {
      settleLog.gaveUp++;
      break;
    }
  }
  settleLog.count++;
  const waited = (performance.now() - t0) / 1000;
  settleLog.waitedS += waited;
  settleLog.extraWaitS += Math.max(0, waited - 0.5);
  settleLog.lastOtherCpus.push(Math.round(other * 100) / 100);
  if (warmBytes > 0 && cfg.warmPages) await warmPages(warmBytes);
}

/**
 * On this VM the first write into memory the guest has not touched lately costs 3-5x the CPU of a
 * write into pages just freed (the hypervisor backs them on first touch: measured 0.4 s against
 * 2 s of system time for 512 MiB). Which of the two a measurement gets would decide the result, so
 * before each one that writes, `bytes` of page cache is written and deleted (never flushed), and
 * both registries start from the same recycled pages. BENCH_WARM_PAGES=0 turns this off.
 */
async function warmPages(bytes: number): Promise<void> {
  const file = join(cfg.work, 'warm-pages.tmp');
  const fh = await open(file, 'w');
  try {
    for (const c of poolChunks(bytes + 64 * MiB)) await fh.write(c);
  } finally {
    await fh.close();
  }
  await rm(file, { force: true });
}
