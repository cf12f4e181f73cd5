// Load generators for the small-request phase: a fixed number of requests from concurrent workers
// over one keep-alive agent (node:http), or wrk for a fixed time; both report req/s, latency
// percentiles, errors and where the CPU went.
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import { cfg } from './config.js';
import { fmt } from './format.js';
import { exchange } from './http-client.js';
import { cpuMeter, type CpuUse } from './measure.js';
import type { Server } from './servers.js';
import { percentile } from './stats.js';

export interface LoadResult extends CpuUse {
  run: number;
  client: 'node' | 'wrk';
  requests: number;
  errors: number;
  seconds: number;
  rps: number;
  p50ms: number;
  p90ms: number;
  p99ms: number;
  maxms: number;
}

/** `total` requests from `concurrency` workers over one keep-alive agent of that many sockets. */
export async function nodeLoad(
  server: Server,
  run: number,
  method: 'HEAD' | 'GET',
  path: string,
  headers: http.OutgoingHttpHeaders,
  total: number,
): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: cfg.concurrency });
  const latencies = new Float64Array(total);
  let next = 0;
  let errors = 0;
  const worker = async () => {
    while (true) {
      const i = next++;
      if (i >= total) return;
      const t = performance.now();
      try {
        const r = await exchange(server, method, path, { headers, agent, timeoutMs: 10_000 });
        if (r.status !== 200) errors++;
      } catch {
        errors++;
      }
      latencies[i] = performance.now() - t;
    }
  };
  const meter = cpuMeter(server.pid);
  const t0 = performance.now();
  await Promise.all(Array.from({ length: cfg.concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = meter();
  agent.destroy();
  latencies.sort();
  return {
    run,
    client: 'node',
    requests: total,
    errors,
    seconds,
    rps: total / seconds,
    p50ms: percentile(latencies, 50),
    p90ms: percentile(latencies, 90),
    p99ms: percentile(latencies, 99),
    maxms: latencies[latencies.length - 1] ?? NaN,
    ...cpu,
  };
}

function wrkMs(text: string, pct: string): number {
  const m = new RegExp(`^\\s*${pct}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(text);
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 's' ? n * 1000 : n;
}

/** wrk (GET only: wrk 4.1 waits for a body after HEAD, so HEAD goes through the node client). */
export function wrkLoad(
  server: Server,
  run: number,
  path: string,
  accept: string,
  seconds: number,
  authorization?: string,
): LoadResult {
  const args = ['-t1', `-c${cfg.concurrency}`, `-d${seconds}s`, '--timeout', '10s', '--latency'];
  if (authorization) args.push('-H', `Authorization: ${authorization}`);
  args.push('-H', `Accept: ${accept}`, `${server.url.origin}${path}`);
  const meter = cpuMeter(server.pid);
  const out = spawnSync(cfg.wrk, args, { timeout: (seconds + 30) * 1000 });
  const cpu = meter();
  const text = out.stdout?.toString() ?? '';
  if (out.status !== 0) throw new Error(`wrk failed (${out.status}): ${out.stderr?.toString()}`);
  const requests = Number(/(\d+) requests in/.exec(text)?.[1] ?? NaN);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const sockErrors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  return {
    run,
    client: 'wrk',
    requests,
    errors: non2xx + sockErrors,
    seconds,
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN),
    p50ms: wrkMs(text, '50'),
    p90ms: wrkMs(text, '90'),
    p99ms: wrkMs(text, '99'),
    maxms: NaN,
    ...cpu,
  };
}

/** The progress line of a load run. */
export const describeLoad = (r: LoadResult) =>
  `${fmt(r.rps, 0)} req/s, p50 ${fmt(r.p50ms)} ms, p99 ${fmt(r.p99ms)} ms, errors ${r.errors}`;
