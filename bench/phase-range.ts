// Ranged-GET phase: the big blob pushed once to each registry (untimed), then BENCH_RANGE_REQUESTS
// random BENCH_RANGE_KIB ranges of it (`Range: bytes=a-b`), the same offsets for every server in a
// run, from BENCH_RANGE_CONCURRENCY keep-alive connections. Every reply must be 206 with exactly the
// range; its first 4 KiB are compared with the known content. A server that answers anything else
// is stopped at once (a 200 would send the whole blob each time) and shown as not supporting it.
import http from 'node:http';
import { makeBlob, prefixBytes } from './blob-content.js';
import { cfg, MB, MiB, stamp, type ServerKey } from './config.js';
import { fmt, say } from './format.js';
import { cpuMeter } from './measure.js';
import { add, note, row, type MetricSection } from './metrics.js';
import { upload } from './phase-upload.js';
import { eachServer, type Server } from './servers.js';
import { settle } from './settle.js';
import { percentile } from './stats.js';

const CHECKED = 4096;

/** A small deterministic generator, so every server gets the same ranges in a run. */
function offsets(seed: number, count: number, max: number): number[] {
  let x = seed >>> 0 || 1;
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out.push(Math.floor((x / 2 ** 32) * max));
  }
  return out;
}

function rangeGet(
  server: Server,
  agent: http.Agent,
  path: string,
  start: number,
  len: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: server.url.hostname,
      port: server.url.port,
      path,
      agent,
      headers: { range: `bytes=${start}-${start + len - 1}` },
      signal: AbortSignal.timeout(30_000),
    });
    req.on('error', reject);
    req.on('response', (res) => {
      if (res.statusCode !== 206) {
        res.destroy();
        req.destroy();
        reject(new Error(`HTTP ${res.statusCode} to a Range request (wanted 206)`));
        return;
      }
      const head: Buffer[] = [];
      let kept = 0;
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (kept < CHECKED) {
          head.push(c);
          kept += c.length;
        }
      });
      res.on('error', reject);
      res.on('end', () => {
        if (bytes !== len) return reject(new Error(`range of ${len} bytes came back as ${bytes}`));
        const got = Buffer.concat(head).subarray(0, CHECKED);
        if (!got.equals(prefixBytes(start, got.length))) return reject(new Error(`wrong bytes at ${start}`));
        resolve();
      });
    });
    req.end();
  });
}

export async function measureRange(servers: Server[], size: number): Promise<MetricSection> {
  const len = cfg.rangeKiB * 1024;
  const rps = row('requests per second', 'req/s', 'higher', 0);
  const rate = row('throughput', 'MB/s', 'higher', 0);
  const p99 = row('p99 latency', 'ms', 'lower');
  const cpu = row('server CPU', 's', 'lower');
  const all = [rps, rate, p99, cpu];
  const paths = new Map<ServerKey, string>();
  for (const s of servers) {
    const blob = makeBlob(size, `${s.key}/range/${stamp}`);
    await upload(s, 'post-put', 'bench/range', blob, 600_000);
    paths.set(s.key, `/v2/bench/range/blobs/${blob.digest}`);
  }
  const failed = new Set<ServerKey>();
  const maxStart = size - 32 - len; // inside the shared prefix, whose content is known
  if (maxStart <= 0) throw new Error(`BENCH_BLOB_MIB too small for ${cfg.rangeKiB} KiB ranges`);
  for (let run = 1; run <= cfg.runs; run++) {
    const starts = offsets(run * 7919, cfg.rangeRequests, maxStart);
    await eachServer(servers, run, async (s) => {
      if (failed.has(s.key)) return;
      const path = paths.get(s.key) as string;
      const agent = new http.Agent({ keepAlive: true, maxSockets: cfg.rangeConcurrency });
      const lat = new Float64Array(starts.length);
      let next = 0;
      const worker = async () => {
        while (next < starts.length) {
          const i = next++;
          const t = performance.now();
          await rangeGet(s, agent, path, starts[i] as number, len);
          lat[i] = performance.now() - t;
        }
      };
      await settle();
      const meter = cpuMeter(s.pid);
      const t0 = performance.now();
      try {
        await Promise.all(Array.from({ length: cfg.rangeConcurrency }, worker));
      } catch (err) {
        failed.add(s.key);
        for (const r of all) note(r, s.key, `n/a: ${(err as Error).message}`);
        say(`range ${s.label}: ${(err as Error).message}`);
        return;
      } finally {
        agent.destroy();
      }
      const seconds = (performance.now() - t0) / 1000;
      const used = meter();
      lat.sort();
      add(rps, s.key, starts.length / seconds);
      add(rate, s.key, (starts.length * len) / MB / seconds);
      add(p99, s.key, percentile(lat, 99));
      add(cpu, s.key, used.serverCpuS);
      say(
        `range ${s.label} run ${run}: ${fmt(starts.length / seconds, 0)} req/s, ${fmt((starts.length * len) / MB / seconds, 0)} MB/s, p99 ${fmt(percentile(lat, 99))} ms`,
      );
    });
  }
  return {
    title: `ranged GET: ${cfg.rangeRequests} random ${len / MiB >= 1 ? `${len / MiB} MiB` : `${cfg.rangeKiB} KiB`} ranges of a ${cfg.blobMiB} MiB blob, ${cfg.rangeConcurrency} connections`,
    rows: all,
  };
}
