// Resident-memory phase: what the earlier phases left in each registry, then both restarted, and
// VmRSS sampled every 100 ms while a big blob (BENCH_RSS_MIB) is pushed and then pulled, with the
// kernel's high-water mark (VmHWM, reset before each run) to catch peaks between samples.
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeBlob, type Blob } from './blob-content.js';
import { cfg, MB, MiB, stamp } from './config.js';
import { fmt, say } from './format.js';
import { procStatusKiB, procStatusMB } from './measure.js';
import { download } from './phase-download.js';
import { upload } from './phase-upload.js';
import { eachServer, startServer, stopServer, waitReady, type Server } from './servers.js';
import { settle } from './settle.js';
import { median } from './stats.js';

export interface RssRun {
  run: number;
  baselineMB: number;
  pushPeakMB: number;
  pullPeakMB: number;
  steadyMB: number;
  afterMB: number;
  /** The kernel's high-water mark since the run started (catches peaks between samples). */
  hwmMB: number;
  pushSeconds: number;
  pullSeconds: number;
  samples: number;
}

async function rssRun(server: Server, run: number, blob: Blob): Promise<RssRun> {
  type Phase = 'before' | 'push' | 'pull' | 'after';
  const samples: { phase: Phase; kib: number }[] = [];
  let phase: Phase = 'before';
  await settle(blob.size);
  try {
    writeFileSync(`/proc/${server.pid}/clear_refs`, '5'); // resets VmHWM to the current RSS
  } catch {
    say('cannot reset VmHWM (not root?): the high-water mark covers the whole process life');
  }
  const timer = setInterval(() => samples.push({ phase, kib: procStatusKiB(server.pid, 'VmRSS') }), 100);
  try {
    await sleep(1_000);
    phase = 'push';
    const t0 = performance.now();
    await upload(server, 'post-put', 'bench/rss', blob, 600_000);
    const pushSeconds = (performance.now() - t0) / 1000;
    phase = 'pull';
    const t1 = performance.now();
    await download(server, 'bench/rss', blob, true, 600_000);
    const pullSeconds = (performance.now() - t1) / 1000;
    phase = 'after';
    await sleep(2_000);
    const of = (...p: Phase[]) => samples.filter((s) => p.includes(s.phase)).map((s) => (s.kib * 1024) / MB);
    const max = (xs: number[]) => (xs.length ? Math.max(...xs) : NaN);
    return {
      run,
      baselineMB: median(of('before')),
      pushPeakMB: max(of('push')),
      pullPeakMB: max(of('pull')),
      steadyMB: median(of('push', 'pull')),
      afterMB: median(of('after')),
      hwmMB: procStatusMB(server.pid, 'VmHWM'),
      pushSeconds,
      pullSeconds,
      samples: samples.length,
    };
  } finally {
    clearInterval(timer);
  }
}

/** Memory runs by server. */
export type RssResults = Record<string, RssRun[]>;
/** By server: RSS and lifetime high-water mark (MB) after the earlier phases, before the restart. */
export type AfterLoad = Record<string, { rssMB: number; hwmMB: number }>;

/**
 * Records what the earlier phases left (a long-running server), then restarts every server in
 * `servers` (the array is updated in place, so whoever stops them stops the fresh ones), then runs
 * BENCH_RSS_RUNS rounds: what a big push and pull do to a server that has done nothing else yet.
 */
export async function measureRss(servers: Server[]): Promise<{ afterLoad: AfterLoad; rss: RssResults }> {
  const rss: RssResults = {};
  const afterLoad: AfterLoad = {};
  for (const [i, s] of servers.entries()) {
    afterLoad[s.key] = { rssMB: procStatusMB(s.pid, 'VmRSS'), hwmMB: procStatusMB(s.pid, 'VmHWM') };
    say(`${s.label} after the earlier phases: RSS ${fmt(afterLoad[s.key]?.rssMB ?? NaN, 0)} MB; restarting`);
    await stopServer(s);
    const fresh = await startServer(s.key);
    await waitReady(fresh);
    servers[i] = fresh;
  }
  for (let run = 1; run <= cfg.rssRuns; run++) {
    await eachServer(servers, run, async (s) => {
      const blob = makeBlob(cfg.rssMiB * MiB, `${s.key}/rss/${run}/${stamp}`);
      const r = await rssRun(s, run, blob);
      (rss[s.key] ??= []).push(r);
      say(
        `rss ${s.label} run ${run}: baseline ${fmt(r.baselineMB, 0)} MB, push peak ${fmt(r.pushPeakMB, 0)}, pull peak ${fmt(r.pullPeakMB, 0)}, HWM ${fmt(r.hwmMB, 0)} MB`,
      );
    });
  }
  return { afterLoad, rss };
}
