// Chunked-upload phase: the big blob pushed as POST, then one PATCH per BENCH_CHUNK_MIB chunk with
// `Content-Range: <start>-<end>` (inclusive, as the OCI spec writes it), each to the Location the
// previous reply gave, then PUT ?digest= with no body; timed from the POST to the PUT's 201, then
// checked with HEAD (size).
import { makeBlob, slice, type Blob } from './blob-content.js';
import { cfg, MB, MiB, stamp } from './config.js';
import { say } from './format.js';
import { exchange, expectStatus, locationPath, withDigest } from './http-client.js';
import { describeTimed, timed } from './measure.js';
import { add, row, type MetricSection } from './metrics.js';
import { eachServer, type Server } from './servers.js';
import { settle, syncDisks } from './settle.js';

async function chunkedUpload(server: Server, repo: string, blob: Blob, chunk: number): Promise<void> {
  const started = await exchange(server, 'POST', `/v2/${repo}/blobs/uploads/`);
  expectStatus(started, 202, `${server.label} POST (start upload)`);
  let loc = locationPath(server, started);
  for (let start = 0; start < blob.size; start += chunk) {
    const end = Math.min(start + chunk, blob.size);
    const r = await exchange(server, 'PATCH', loc, {
      body: slice(blob, start, end),
      headers: { 'content-range': `${start}-${end - 1}` },
      timeoutMs: 120_000,
    });
    expectStatus(r, 202, `${server.label} PATCH ${start}-${end - 1}`);
    loc = locationPath(server, r);
  }
  const done = await exchange(server, 'PUT', withDigest(loc, blob.digest), { timeoutMs: 120_000 });
  expectStatus(done, 201, `${server.label} PUT (complete)`);
  const h = await exchange(server, 'HEAD', `/v2/${repo}/blobs/${blob.digest}`);
  expectStatus(h, 200, `${server.label} HEAD after chunked upload`);
  if (Number(h.headers['content-length']) !== blob.size) {
    throw new Error(`${server.label}: stored size ${h.headers['content-length']}, sent ${blob.size}`);
  }
}

export async function measureChunked(servers: Server[], size: number): Promise<MetricSection> {
  const chunk = cfg.chunkMiB * MiB;
  const n = Math.ceil(size / chunk);
  const time = row(`POST + ${n} PATCH + PUT: wall time`, 's', 'lower');
  const rate = row('throughput', 'MB/s', 'higher', 0);
  const cpu = row('server CPU', 's', 'lower');
  for (let run = 1; run <= cfg.runs; run++) {
    await eachServer(servers, run, async (s) => {
      const blob = makeBlob(size, `${s.key}/chunked/${run}/${stamp}`);
      await settle(size);
      const r = await timed(s, run, size, () => chunkedUpload(s, 'bench/chunked', blob, chunk));
      add(time, s.key, r.seconds);
      add(rate, s.key, size / MB / r.seconds);
      add(cpu, s.key, r.serverCpuS);
      say(`chunked ${s.label} run ${run}: ${describeTimed(r)}`);
    });
  }
  syncDisks();
  return {
    title: `chunked upload ${cfg.blobMiB} MiB in ${cfg.chunkMiB} MiB PATCH chunks with Content-Range`,
    rows: [time, rate, cpu],
  };
}
