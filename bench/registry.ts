// Registry benchmark: our server against CNCF Distribution 2.8.2 (Debian `docker-registry`), side by
// side in one run, the same client code against both, figures and ratios printed (never asserted).
// Run it through bench/run.sh, which installs the peer, builds dist/, compiles this entry point and
// the modules beside it with the project's tsc and sets the BENCH_* variables (config.ts);
// bench/README.md explains the method. This file only wires the phases and writes the results.
//
// Measurements, each repeated BENCH_RUNS times (median reported), registries interleaved:
//   reference  sha256 and an fsynced write of the blob size in this Node process, on this disk
//   upload     512 MiB blob: POST ?digest= (one request), POST+PUT (monolithic), POST+PATCH+PUT
//   download   the same blob: GET with the digest verified while reading, and GET discarding
//   small      HEAD blob, GET manifest: 50 concurrent keep-alive connections, fixed request count
//   rss        VmRSS of the server sampled every 100 ms while a 2 GiB blob is pushed, then pulled
import { cfg, MiB, profileDir, stamp, startedAt } from './config.js'; // first: it checks the settings
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import type { Blob } from './blob-content.js';
import { say } from './format.js';
import { hostInfo } from './host-info.js';
import type { TimedResults } from './measure.js';
import { printNoiseSummary } from './noise.js';
import { measureDownloads } from './phase-download.js';
import { measureReference, type ReferenceResults } from './phase-reference.js';
import { measureRss, type AfterLoad, type RssResults } from './phase-rss.js';
import { measureSmallRequests, type SmallResults } from './phase-small.js';
import { measureUploads } from './phase-upload.js';
import { printProfiles, summariseProfiles } from './profile.js';
import { report } from './report.js';
import {
  startDistribution,
  startOurs,
  stopRegistriesOnExit,
  stopServer,
  waitReady,
  type Server,
} from './servers.js';
import { settleLog } from './settle.js';

stopRegistriesOnExit();

async function main(): Promise<void> {
  mkdirSync(cfg.resultsDir, { recursive: true });
  const host = hostInfo();
  say(
    `work dir ${cfg.work} (${host.disk}); ${host.cpus} CPUs; load ${host.loadavgAtStart.map((l) => l.toFixed(2))}`,
  );
  const size = cfg.blobMiB * MiB;
  const results: Record<string, unknown> = {
    startedAt: startedAt.toISOString(),
    host,
    config: { ...cfg, work: undefined },
  };

  const servers: Server[] = [];
  if (cfg.servers.includes('ours')) servers.push(await startOurs());
  if (cfg.servers.includes('distribution')) servers.push(await startDistribution());
  for (const s of servers) await waitReady(s);
  results.servers = Object.fromEntries(
    servers.map((s) => [s.key, { version: s.version, url: s.url.origin }]),
  );
  for (const s of servers) say(`${s.label}: ${s.version} at ${s.url.origin} (pid ${s.pid})`);

  try {
    let reference: ReferenceResults = {};
    if (cfg.phases.includes('reference')) {
      reference = await measureReference(size);
      results.reference = reference;
    }

    let uploads: TimedResults = {};
    let singlePost: Record<string, boolean> = {};
    let uploaded = new Map<string, Blob[]>(); // per server: blobs to download later
    if (cfg.phases.includes('upload') || cfg.phases.includes('download')) {
      ({ uploads, singlePost, uploaded } = await measureUploads(servers, size));
      results.uploads = uploads;
      results.singlePostSupported = singlePost;
    }

    let downloads: TimedResults = {};
    if (cfg.phases.includes('download')) {
      downloads = await measureDownloads(servers, size, uploaded);
      results.downloads = downloads;
    }

    let small: SmallResults = {};
    if (cfg.phases.includes('small')) {
      small = await measureSmallRequests(servers);
      results.small = small;
    }

    let rss: RssResults = {};
    let afterLoad: AfterLoad = {};
    if (cfg.phases.includes('rss')) {
      // Restarts the servers: `servers` then holds the fresh ones, which the finally below stops.
      ({ afterLoad, rss } = await measureRss(servers));
      results.rssAfterEarlierPhases = afterLoad;
      results.rss = rss;
    }

    results.loadavgAtEnd = os.loadavg();
    results.settle = settleLog;
    results.finishedAt = new Date().toISOString();
    const verdicts = report(servers, size, reference, uploads, singlePost, downloads, small, rss, afterLoad);
    results.verdicts = verdicts;
  } finally {
    for (const s of servers) await stopServer(s);
  }

  if (cfg.profile) {
    const summary = summariseProfiles(profileDir);
    results.profile = { dir: profileDir, summary };
    printProfiles(summary);
  }

  printNoiseSummary(results);

  const file = join(cfg.resultsDir, `${stamp}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nresults: ${file}`);
}

main().catch((err: unknown) => {
  console.error(`[bench] failed: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
