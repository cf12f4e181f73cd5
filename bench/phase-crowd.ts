// Crowd phase: GET manifest by tag from BENCH_CROWD_CONNECTIONS (1000) keep-alive connections at
// once, with wrk (-t2) for BENCH_CROWD_SECONDS (10 s), as when every node of a cluster starts pods
// at the same moment. Reports req/s, mean and max latency (wrk's), and the server's peak RSS over
// the run (sampled from /proc every 100 ms). A 2 s run with the same connections warms each server
// up first. Needs wrk; skipped without it.
import { spawn } from 'node:child_process';
import { cfg } from './config.js';
import { fmt, say } from './format.js';
import { procStatusMB } from './measure.js';
import { add, row, type MetricSection } from './metrics.js';
import { OCI_MANIFEST, pushSmallImage } from './phase-small.js';
import { eachServer, type Server } from './servers.js';
import { settle } from './settle.js';

interface CrowdRun {
  rps: number;
  meanMs: number;
  maxMs: number;
  peakRssMB: number;
  errors: number;
}

const ms = (n: string, unit: string) => Number(n) * (unit === 'us' ? 0.001 : unit === 's' ? 1000 : 1);

function runWrk(server: Server, path: string, seconds: number): Promise<CrowdRun> {
  const args = ['-t2', `-c${cfg.crowdConnections}`, `-d${seconds}s`, '--timeout', '10s'];
  args.push('-H', `Accept: ${OCI_MANIFEST}`, `${server.url.origin}${path}`);
  return new Promise((resolve, reject) => {
    let peak = 0;
    const sample = setInterval(() => {
      const rss = procStatusMB(server.pid, 'VmRSS');
      if (rss > peak) peak = rss;
    }, 100);
    const child = spawn(cfg.wrk, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(sample);
      if (code !== 0) return reject(new Error(`wrk failed (${code}): ${out}`));
      const lat = /Latency\s+([\d.]+)(us|ms|s)\s+[\d.]+(?:us|ms|s)\s+([\d.]+)(us|ms|s)/.exec(out);
      const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
      resolve({
        rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
        meanMs: lat ? ms(lat[1] as string, lat[2] as string) : NaN,
        maxMs: lat ? ms(lat[3] as string, lat[4] as string) : NaN,
        peakRssMB: peak,
        errors: non2xx + (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0),
      });
    });
  });
}

export async function measureCrowd(servers: Server[]): Promise<MetricSection> {
  const title = `GET manifest from ${cfg.crowdConnections} connections at once (wrk -t2, ${cfg.crowdSeconds} s)`;
  if (!cfg.wrk) return { title, rows: [], skipped: 'wrk is not installed' };
  const rps = row('requests per second', 'req/s', 'higher', 0);
  const mean = row('latency, mean', 'ms', 'lower', 1);
  const max = row('latency, max', 'ms', 'lower', 0);
  const rss = row('server RSS, peak during the run', 'MB', 'lower', 0);
  const errors = row('errors and timeouts', 'count', 'lower', 0);
  const paths = new Map<string, string>();
  for (const s of servers) paths.set(s.key, (await pushSmallImage(s)).manifest);
  for (let run = 1; run <= cfg.runs; run++) {
    await eachServer(servers, run, async (s) => {
      await settle();
      await runWrk(s, paths.get(s.key) as string, Math.min(2, cfg.crowdSeconds)); // warm-up, not kept
      const r = await runWrk(s, paths.get(s.key) as string, cfg.crowdSeconds);
      add(rps, s.key, r.rps);
      add(mean, s.key, r.meanMs);
      add(max, s.key, r.maxMs);
      add(rss, s.key, r.peakRssMB);
      add(errors, s.key, r.errors);
      say(
        `crowd ${s.label} run ${run}: ${fmt(r.rps, 0)} req/s, mean ${fmt(r.meanMs)} ms, max ${fmt(r.maxMs, 0)} ms, peak RSS ${fmt(r.peakRssMB, 0)} MB, errors ${r.errors}`,
      );
    });
  }
  return { title, rows: [rps, mean, max, rss, errors] };
}
