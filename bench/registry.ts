// Registry benchmark: our server against CNCF Distribution 2.8.2 (Debian `docker-registry`) and
// Distribution v3.1.1 (built by run.sh), side by side in one run, the same client code against all,
// figures and ratios to each peer printed (never asserted).
// Run it through bench/run.sh, which installs the peer, builds dist/, compiles this entry point and
// the modules beside it with the project's tsc and sets the BENCH_* variables (config.ts);
// bench/README.md explains the method. This file only wires the phases and writes the results.
//
// Measurements, each repeated BENCH_RUNS times (median reported), registries interleaved:
//   reference  sha256 and an fsynced write of the blob size in this Node process, on this disk
//   upload     512 MiB blob: POST ?digest= (one request), POST+PUT (monolithic), POST+PATCH+PUT
//   chunked    512 MiB blob in 16 MiB PATCH chunks with Content-Range
//   download   the same blob: GET with the digest verified while reading, and GET discarding
//   range      1000 random 1 MiB ranged GETs of a 512 MiB blob
//   small      HEAD blob, GET manifest: 50 concurrent keep-alive connections, fixed request count
//   crowd      GET manifest from 1000 connections at once (wrk -t2): req/s, latency, peak RSS
//   auth       ours only: HEAD blob and GET manifest with a bearer token on every request
//   pulls      100 concurrent clients pulling a small image (manifest, config, 2 layers)
//   clients    skopeo and crane pushing and pulling a 20-layer image
//   startup    spawn to the first 200 on /v2/ with a fresh data dir
//   rss        VmRSS of the server sampled every 100 ms while a 2 GiB blob is pushed, then pulled
// --quick (BENCH_QUICK=1) shrinks all of these (config.ts) so the whole run takes about 2 minutes.
import { cfg, MiB, profileDir, stamp, startedAt } from './config.js'; // first: it checks the settings
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import type { Blob } from './blob-content.js';
import { say } from './format.js';
import { hostInfo } from './host-info.js';
import type { TimedResults } from './measure.js';
import { printNoiseSummary } from './noise.js';
import { measureChunked } from './phase-chunked.js';
import { measureClients } from './phase-clients.js';
import { measureDownloads } from './phase-download.js';
import { measurePulls } from './phase-pulls.js';
import { measureRange } from './phase-range.js';
import { measureReference, type ReferenceResults } from './phase-reference.js';
import { measureRss, type AfterLoad, type RssResults } from './phase-rss.js';
import { measureSmallRequests, type SmallResults } from './phase-small.js';
import { measureStartup } from './phase-startup.js';
import { measureCrowd } from './phase-crowd.js';
import { measureAuth } from './phase-auth.js';
import { measureUi } from './phase-ui.js';
import { measureUploads } from './phase-upload.js';
import { printProfiles, summariseProfiles } from './profile.js';
import { report, type GenericResults } from './report.js';
import { startServer, stopRegistriesOnExit, stopServer, waitReady, type Server } from './servers.js';
import { settleLog } from './settle.js';

stopRegistriesOnExit();

async function main(): Promise<void> {
  const t0 = performance.now();
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

  if (cfg.quick) say('quick mode: small sizes, one run, short loads (the numbers are only a smoke check)');
  const servers: Server[] = [];
  const skippedServers: Record<string, string> = {};
  for (const key of cfg.servers) {
    if (key === 'distribution3' && !cfg.distribution3Bin) {
      skippedServers[key] = cfg.distribution3Why;
      say(`Distribution v3.1.1 is not available, continuing without it: ${cfg.distribution3Why}`);
      continue;
    }
    servers.push(await startServer(key));
  }
  for (const s of servers) await waitReady(s);
  results.servers = Object.fromEntries(
    servers.map((s) => [s.key, { version: s.version, url: s.url.origin }]),
  );
  results.skippedServers = skippedServers;
  for (const s of servers) say(`${s.label}: ${s.version} at ${s.url.origin} (pid ${s.pid})`);

  const generic: GenericResults = {};
  results.generic = generic;
  const phaseSeconds: Record<string, number> = {};
  results.phaseSeconds = phaseSeconds;
  /** Runs a phase when BENCH_ONLY wants it, and records how long it took. */
  const phase = async (name: string, fn: () => Promise<void>) => {
    if (!cfg.phases.includes(name)) return;
    const t0 = performance.now();
    say(`phase ${name}`);
    await fn();
    phaseSeconds[name] = Math.round((performance.now() - t0) / 100) / 10;
    say(`phase ${name} took ${phaseSeconds[name]} s`);
  };

  try {
    let reference: ReferenceResults = {};
    await phase('reference', async () => {
      reference = await measureReference(size);
      results.reference = reference;
    });

    let uploads: TimedResults = {};
    let singlePost: Record<string, boolean> = {};
    let uploaded = new Map<string, Blob[]>(); // per server: blobs to download later
    if (cfg.phases.includes('upload') || cfg.phases.includes('download')) {
      const t0 = performance.now();
      ({ uploads, singlePost, uploaded } = await measureUploads(servers, size));
      results.uploads = uploads;
      results.singlePostSupported = singlePost;
      phaseSeconds.upload = Math.round((performance.now() - t0) / 100) / 10;
      say(`phase upload took ${phaseSeconds.upload} s`);
    }

    await phase('chunked', async () => {
      generic.chunked = [await measureChunked(servers, size)];
    });

    let downloads: TimedResults = {};
    await phase('download', async () => {
      downloads = await measureDownloads(servers, size, uploaded);
      results.downloads = downloads;
    });

    await phase('range', async () => {
      generic.range = [await measureRange(servers, size)];
    });

    let small: SmallResults = {};
    await phase('small', async () => {
      small = await measureSmallRequests(servers);
      results.small = small;
    });

    await phase('crowd', async () => {
      generic.crowd = [await measureCrowd(servers)];
    });

    await phase('auth', async () => {
      generic.auth = [await measureAuth(servers)];
    });

    await phase('pulls', async () => {
      generic.pulls = [await measurePulls(servers)];
    });
    await phase('clients', async () => {
      generic.clients = await measureClients(servers);
    });
    await phase('startup', async () => {
      generic.startup = [await measureStartup(servers)];
    });
    await phase('ui', async () => {
      generic.ui = [await measureUi(servers)];
    });

    let rss: RssResults = {};
    let afterLoad: AfterLoad = {};
    await phase('rss', async () => {
      // Restarts the servers: `servers` then holds the fresh ones, which the finally below stops.
      ({ afterLoad, rss } = await measureRss(servers));
      results.rssAfterEarlierPhases = afterLoad;
      results.rss = rss;
    });

    results.loadavgAtEnd = os.loadavg();
    results.settle = settleLog;
    results.finishedAt = new Date().toISOString();
    const verdicts = report(
      servers,
      size,
      reference,
      uploads,
      singlePost,
      downloads,
      small,
      rss,
      afterLoad,
      generic,
    );
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

  const total = (performance.now() - t0) / 1000;
  results.totalSeconds = Math.round(total);
  console.log(
    `\ntook ${Math.round(total)} s (${Object.entries(phaseSeconds)
      .map(([k, v]) => `${k} ${Math.round(v)}`)
      .join(', ')})` +
      (Object.keys(skippedServers).length
        ? `; not run: ${Object.entries(skippedServers)
            .map(([k, v]) => `${k} (${v})`)
            .join(', ')}`
        : ''),
  );
  const file = join(cfg.resultsDir, `${stamp}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nresults: ${file}`);
}

main().catch((err: unknown) => {
  console.error(`[bench] failed: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
