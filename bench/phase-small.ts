// Small-request phase: a tiny image (config, one layer, manifest by tag) pushed to each registry,
// then HEAD blob, GET of that 4 KiB blob and GET manifest under BENCH_CONCURRENCY keep-alive
// connections with the node client, and GET manifest with wrk when it is there.
import { randomFillSync } from 'node:crypto';
import { sha256 } from './blob-content.js';
import { cfg, type ServerKey } from './config.js';
import { say } from './format.js';
import { exchange, expectStatus, locationPath, withDigest } from './http-client.js';
import { describeLoad, nodeLoad, wrkLoad, type LoadResult } from './load-generators.js';
import { eachServer, type Server } from './servers.js';
import { settle } from './settle.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

export interface SmallTargets {
  head: string;
  manifest: string;
  manifestDigest: string;
}

/** Pushes the tiny image (again, if it is there: the same bytes) and checks it reads back. */
export async function pushSmallImage(server: Server): Promise<SmallTargets> {
  const repo = 'bench/small';
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
  );
  const layer = randomFillSync(Buffer.alloc(4096));
  for (const b of [config, layer]) {
    const s = await exchange(server, 'POST', `/v2/${repo}/blobs/uploads/`);
    expectStatus(s, 202, `${server.label} POST`);
    const p = await exchange(server, 'PUT', withDigest(locationPath(server, s), sha256(b)), { body: b });
    expectStatus(p, 201, `${server.label} PUT small blob`);
  }
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256(config),
        size: config.length,
      },
      layers: [
        { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length },
      ],
    }),
  );
  const m = await exchange(server, 'PUT', `/v2/${repo}/manifests/latest`, {
    body: manifest,
    headers: { 'content-type': OCI_MANIFEST },
  });
  expectStatus(m, 201, `${server.label} PUT manifest`);
  const targets = {
    head: `/v2/${repo}/blobs/${sha256(layer)}`,
    manifest: `/v2/${repo}/manifests/latest`,
    manifestDigest: sha256(manifest),
  };
  const h = await exchange(server, 'HEAD', targets.head);
  expectStatus(h, 200, `${server.label} HEAD blob`);
  const g = await exchange(server, 'GET', targets.manifest, { headers: { accept: OCI_MANIFEST } });
  expectStatus(g, 200, `${server.label} GET manifest`);
  if (sha256(g.body) !== targets.manifestDigest)
    throw new Error(`${server.label}: manifest came back changed`);
  return targets;
}

/** Load runs by request kind (head-blob, get-manifest, get-manifest-wrk), then by server. */
export type SmallResults = Record<string, Record<string, LoadResult[]>>;

/** BENCH_RUNS rounds of every kind on every server, each after its own untimed warm-up. */
export async function measureSmallRequests(servers: Server[]): Promise<SmallResults> {
  const small: SmallResults = {};
  const targets = new Map<ServerKey, SmallTargets>();
  for (const s of servers) targets.set(s.key, await pushSmallImage(s));
  const kinds = [
    { name: 'head-blob', method: 'HEAD' as const, headers: {} },
    { name: 'get-blob', method: 'GET' as const, headers: {} },
    { name: 'get-manifest', method: 'GET' as const, headers: { accept: OCI_MANIFEST } },
  ];
  for (let run = 1; run <= cfg.runs; run++) {
    for (const k of kinds) {
      await eachServer(servers, run, async (s) => {
        const t = targets.get(s.key) as SmallTargets;
        const path = k.name === 'get-manifest' ? t.manifest : t.head; // t.head: the 4 KiB layer
        await settle();
        await nodeLoad(s, run, k.method, path, k.headers, cfg.smallWarmup); // warm-up, not kept
        const r = await nodeLoad(s, run, k.method, path, k.headers, cfg.smallRequests);
        ((small[k.name] ??= {})[s.key] ??= []).push(r);
        say(`${k.name} ${s.label} run ${run}: ${describeLoad(r)}`);
      });
    }
    if (cfg.wrk) {
      await eachServer(servers, run, async (s) => {
        const t = targets.get(s.key) as SmallTargets;
        await settle();
        wrkLoad(s, run, t.manifest, OCI_MANIFEST, 2); // warm-up
        const r = wrkLoad(s, run, t.manifest, OCI_MANIFEST, cfg.wrkSeconds);
        ((small['get-manifest-wrk'] ??= {})[s.key] ??= []).push(r);
        say(`get-manifest (wrk) ${s.label} run ${run}: ${describeLoad(r)}`);
      });
    }
  }
  return small;
}
