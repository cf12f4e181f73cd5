// Start-up phase: BENCH_STARTUP_RUNS times per server, a new instance on a free port with a fresh,
// empty data dir, timed from the spawn to the first 200 on GET /v2/ (polled every 5 ms, a new
// connection each time), then stopped. The servers under test in the other phases keep running.
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { cfg } from './config.js';
import { fmt, say } from './format.js';
import { add, row, type MetricSection } from './metrics.js';
import { eachServer, startServer, stopServer, type Server } from './servers.js';
import { settle } from './settle.js';

function probe(server: Server): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(
      { host: server.url.hostname, port: server.url.port, path: '/v2/', agent: false, timeout: 1_000 },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', () => resolve(0));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

async function timeToReady(server: Server, t0: number): Promise<number> {
  const deadline = t0 + 30_000;
  while (performance.now() < deadline) {
    if (server.child.exitCode !== null) throw new Error(`${server.label} exited; see ${server.logFile}`);
    if ((await probe(server)) === 200) return (performance.now() - t0) / 1000;
    await sleep(5);
  }
  throw new Error(`${server.label} did not answer 200 on /v2/ within 30 s; see ${server.logFile}`);
}

export async function measureStartup(servers: Server[]): Promise<MetricSection> {
  const time = row('spawn to first 200 on /v2/', 's', 'lower', 3);
  let n = 0;
  for (let run = 1; run <= cfg.startupRuns; run++) {
    await eachServer(servers, run, async (s) => {
      await settle();
      const fresh = await startServer(s.key, `${s.key}-startup-${++n}`);
      try {
        const seconds = await timeToReady(fresh, fresh.spawnedAt);
        add(time, s.key, seconds);
        say(`startup ${s.label} run ${run}: ${fmt(seconds, 3)} s`);
      } finally {
        await stopServer(fresh);
      }
    });
  }
  return { title: `server start-up, fresh data dir (${cfg.startupRuns} starts each)`, rows: [time] };
}
