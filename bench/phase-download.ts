// Download phase: the blobs the upload phase pushed, pulled back from a warm page cache, once with
// sha256 verified while reading and once discarding the bytes.
import { createHash } from 'node:crypto';
import type { Blob } from './blob-content.js';
import { cfg } from './config.js';
import { say } from './format.js';
import { exchange, expectStatus } from './http-client.js';
import { describeTimed, timed, type TimedResults } from './measure.js';
import { eachServer, type Server } from './servers.js';
import { settle } from './settle.js';

export async function download(
  server: Server,
  repo: string,
  blob: Blob,
  verify: boolean,
  timeoutMs: number,
): Promise<void> {
  const hash = verify ? createHash('sha256') : undefined;
  const r = await exchange(server, 'GET', `/v2/${repo}/blobs/${blob.digest}`, {
    sink: hash ? (c) => hash.update(c) : () => undefined,
    timeoutMs,
  });
  expectStatus(r, 200, `${server.label} GET blob`);
  if (r.bytes !== blob.size) throw new Error(`${server.label}: downloaded ${r.bytes} bytes of ${blob.size}`);
  if (hash) {
    const got = `sha256:${hash.digest('hex')}`;
    if (got !== blob.digest)
      throw new Error(`${server.label}: downloaded content is ${got}, not ${blob.digest}`);
  }
}

/** BENCH_RUNS rounds of both modes on every server; `uploaded` is the upload phase's. */
export async function measureDownloads(
  servers: Server[],
  size: number,
  uploaded: Map<string, Blob[]>,
): Promise<TimedResults> {
  const downloads: TimedResults = {};
  for (let run = 1; run <= cfg.runs; run++) {
    for (const verify of [true, false]) {
      const mode = verify ? 'verify' : 'discard';
      await eachServer(servers, run, async (s) => {
        const blobs = uploaded.get(s.key) ?? [];
        const blob = blobs[(run - 1) % blobs.length] as Blob;
        await settle();
        const r = await timed(s, run, size, () => download(s, 'bench/upload', blob, verify, 600_000));
        ((downloads[mode] ??= {})[s.key] ??= []).push(r);
        say(`download ${mode} ${s.label} run ${run}: ${describeTimed(r)}`);
      });
    }
  }
  return downloads;
}
