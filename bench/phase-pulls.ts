// Concurrent-pull phase: one small image (OCI manifest, config, two small layers) pushed to each
// registry, then BENCH_PULL_CLIENTS clients at once, each on its own connection, pull it the way a
// client does: GET manifest by tag, then config and layers one after the other, every digest
// checked. Reported: the time until the last client is done, and p50/p99 of the per-client times.
import { randomFillSync } from 'node:crypto';
import http from 'node:http';
import { sha256 } from './blob-content.js';
import { cfg } from './config.js';
import { fmt, say } from './format.js';
import { exchange, expectStatus, locationPath, withDigest } from './http-client.js';
import { cpuMeter } from './measure.js';
import { add, row, type MetricSection } from './metrics.js';
import { eachServer, type Server } from './servers.js';
import { settle } from './settle.js';
import { percentile } from './stats.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const REPO = 'bench/pulls';

export async function pushBlob(server: Server, repo: string, b: Buffer): Promise<string> {
  const s = await exchange(server, 'POST', `/v2/${repo}/blobs/uploads/`);
  expectStatus(s, 202, `${server.label} POST`);
  const p = await exchange(server, 'PUT', withDigest(locationPath(server, s), sha256(b)), { body: b });
  expectStatus(p, 201, `${server.label} PUT blob`);
  return sha256(b);
}

async function pushSmallImage(server: Server): Promise<void> {
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
  );
  const layers = [randomFillSync(Buffer.alloc(16 * 1024)), randomFillSync(Buffer.alloc(64 * 1024))];
  const desc = async (b: Buffer, mediaType: string) => ({
    mediaType,
    digest: await pushBlob(server, REPO, b),
    size: b.length,
  });
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: await desc(config, 'application/vnd.oci.image.config.v1+json'),
      layers: [
        await desc(layers[0] as Buffer, 'application/vnd.oci.image.layer.v1.tar'),
        await desc(layers[1] as Buffer, 'application/vnd.oci.image.layer.v1.tar'),
      ],
    }),
  );
  const m = await exchange(server, 'PUT', `/v2/${REPO}/manifests/latest`, {
    body: manifest,
    headers: { 'content-type': OCI_MANIFEST },
  });
  expectStatus(m, 201, `${server.label} PUT manifest`);
}

/** One client's pull: manifest by tag, then every blob it names, digests checked. */
async function pull(server: Server): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const m = await exchange(server, 'GET', `/v2/${REPO}/manifests/latest`, {
      headers: { accept: OCI_MANIFEST },
      agent,
    });
    expectStatus(m, 200, `${server.label} GET manifest`);
    const manifest = JSON.parse(m.body.toString()) as {
      config: { digest: string };
      layers: { digest: string }[];
    };
    for (const d of [manifest.config, ...manifest.layers]) {
      const b = await exchange(server, 'GET', `/v2/${REPO}/blobs/${d.digest}`, { agent });
      expectStatus(b, 200, `${server.label} GET blob`);
      if (sha256(b.body) !== d.digest) throw new Error(`${server.label}: blob ${d.digest} came back changed`);
    }
  } finally {
    agent.destroy();
  }
}

export async function measurePulls(servers: Server[]): Promise<MetricSection> {
  const n = cfg.pullClients;
  const total = row('all clients done', 's', 'lower', 3);
  const p50 = row('one client: p50', 'ms', 'lower', 1);
  const p99 = row('one client: p99', 'ms', 'lower', 1);
  const cpu = row('server CPU', 's', 'lower', 3);
  for (const s of servers) {
    await pushSmallImage(s);
    await pull(s); // untimed check that a pull works
  }
  for (let run = 1; run <= cfg.runs; run++) {
    await eachServer(servers, run, async (s) => {
      await settle();
      const times = new Float64Array(n);
      const meter = cpuMeter(s.pid);
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          const t = performance.now();
          await pull(s);
          times[i] = performance.now() - t;
        }),
      );
      const seconds = (performance.now() - t0) / 1000;
      const used = meter();
      times.sort();
      add(total, s.key, seconds);
      add(p50, s.key, percentile(times, 50));
      add(p99, s.key, percentile(times, 99));
      add(cpu, s.key, used.serverCpuS);
      say(
        `pulls ${s.label} run ${run}: ${n} clients in ${fmt(seconds, 3)} s, p50 ${fmt(percentile(times, 50), 1)} ms, p99 ${fmt(percentile(times, 99), 1)} ms`,
      );
    });
  }
  return {
    title: `${n} concurrent pulls of a small image (manifest, config, 16 + 64 KiB layers)`,
    rows: [total, p50, p99, cpu],
  };
}
