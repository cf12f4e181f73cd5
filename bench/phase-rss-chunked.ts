// Resident memory of a registry node while a big blob (BENCH_RSS_MIB) is pushed in BENCH_CHUNK_MIB
// PATCH chunks and then pulled (the scale-out benchmark's memory phase). VmRSS of the server is
// sampled every 100 ms, as phase-rss.ts does, with 1 s idle before and 2 s after, and the kernel's
// high-water mark (VmHWM, reset first) catches peaks between samples. The push is the chunked-upload
// phase itself (phase-chunked.ts) run once on that server; the pull is the download phase's GET of
// the same blob with its digest verified.
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeBlob } from './blob-content.js';
import { cfg, MB, MiB, stamp } from './config.js';
import { fmt, say } from './format.js';
import { procStatusKiB, procStatusMB } from './measure.js';
import { measureChunked } from './phase-chunked.js';
import { download } from './phase-download.js';
import type { Server } from './servers.js';
import { median } from './stats.js';

/**
 * Runs `fn` with some settings replaced, then puts them back. The shared phases read `cfg` when they
 * run, so this is how one of them runs with other settings (one run, extra node flags) for a moment.
 */
export async function withCfg<T>(patch: Partial<typeof cfg>, fn: () => Promise<T>): Promise<T> {
  const saved = { ...cfg };
  Object.assign(cfg, patch);
  try {
    return await fn();
  } finally {
    Object.assign(cfg, saved);
  }
}

export interface ChunkedRssRun {
  /** Median VmRSS over the idle second before the push (MB = 10^6 bytes). */
  baselineMB: number;
  pushPeakMB: number;
  pullPeakMB: number;
  /** The kernel's high-water mark since the reset before the run. */
  hwmMB: number;
  /** Median VmRSS over the 2 s after the pull. */
  afterMB: number;
  pushSeconds: number;
  pullSeconds: number;
  samples: number;
}

type Window = 'before' | 'push' | 'pull' | 'after';

async function chunkedRssRun(server: Server, size: number): Promise<ChunkedRssRun> {
  const mb: Record<Window, number[]> = { before: [], push: [], pull: [], after: [] };
  let window: Window = 'before';
  try {
    writeFileSync(`/proc/${server.pid}/clear_refs`, '5'); // resets VmHWM to the current RSS
  } catch {
    say('cannot reset VmHWM (not root?): the high-water mark covers the whole process life');
  }
  const timer = setInterval(() => mb[window].push((procStatusKiB(server.pid, 'VmRSS') * 1024) / MB), 100);
  try {
    await sleep(1_000);
    window = 'push';
    // The chunked phase on this server alone, once. It settles first (sync, a quiet machine, page
    // cache recycled), which the push window then holds as idle samples; its own timer is the push time.
    const pushed = await withCfg({ runs: 1 }, () => measureChunked([server], size));
    const timeRow = pushed.rows.find((r) => r.label.endsWith('wall time'));
    const pushSeconds = median(timeRow?.values[server.key] ?? []);
    window = 'pull';
    // The blob that run pushed: phase-chunked.ts names it `<key>/chunked/<run>/<stamp>`. Should that
    // change, the GET below fails (404) or the digest check does: never a wrong figure.
    const blob = makeBlob(size, `${server.key}/chunked/1/${stamp}`);
    const t0 = performance.now();
    await download(server, 'bench/chunked', blob, true, 600_000);
    const pullSeconds = (performance.now() - t0) / 1000;
    window = 'after';
    await sleep(2_000);
    const peak = (xs: number[]) => (xs.length ? Math.max(...xs) : NaN);
    return {
      baselineMB: median(mb.before),
      pushPeakMB: peak(mb.push),
      pullPeakMB: peak(mb.pull),
      hwmMB: procStatusMB(server.pid, 'VmHWM'),
      afterMB: median(mb.after),
      pushSeconds,
      pullSeconds,
      samples: Object.values(mb).reduce((a, xs) => a + xs.length, 0),
    };
  } finally {
    clearInterval(timer);
  }
}

/** One memory run per server, one server after the other, on the servers as they are (started fresh). */
export async function measureChunkedRss(servers: Server[]): Promise<Record<string, ChunkedRssRun>> {
  const out: Record<string, ChunkedRssRun> = {};
  for (const s of servers) {
    const r = await chunkedRssRun(s, cfg.rssMiB * MiB);
    out[s.key] = r;
    say(
      `rss ${s.label}: idle ${fmt(r.baselineMB, 0)} MB, chunked push peak ${fmt(r.pushPeakMB, 0)} MB ` +
        `(${fmt(r.pushSeconds)} s), pull peak ${fmt(r.pullPeakMB, 0)} MB (${fmt(r.pullSeconds)} s), HWM ${fmt(r.hwmMB, 0)} MB`,
    );
  }
  return out;
}
