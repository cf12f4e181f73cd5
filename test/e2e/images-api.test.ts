// Images and the builder cache over HTTP against the real containerd and buildkitd: images
// built with buildctl into the "buildkit" namespace are listed with ctr's digest and a size
// summed independently from `ctr content get` (config + layers, not the manifest); a
// multi-platform index is sized per platform; an empty namespace lists nothing; disk usage and
// a bounded prune (never everything: other tests rely on the shared cache); 400s; and 503s with
// the doctor's words when the daemons' sockets are missing.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWithBase } from '../support/buildctl.js';
import { startServe, type ServeHandle } from '../support/cli.js';
import { missing, titled } from '../support/env.js';

const run = promisify(execFile);
const why = missing('containerd', 'buildkit');

const REF = 'docker.io/opencloud-test/images-api:1';
const MULTI = 'docker.io/opencloud-test/images-api:multi';
const EMPTY_NS = `opencloud-images-empty-${process.pid}`;

interface Platform {
  platform: string;
  digest: string;
  size: number | null;
  created: string | null;
}
interface Image {
  namespace: string;
  name: string;
  digest: string;
  mediaType: string;
  size: number | null;
  platforms: Platform[];
  createdAt: string | null;
}
interface Descriptor {
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
}

const ctr = async (...args: string[]) => (await run('ctr', ['-n', 'buildkit', ...args])).stdout;
const blob = async <T>(digest: string) => JSON.parse(await ctr('content', 'get', digest)) as T;

/** config + layers of a manifest, read by ctr rather than by the server. */
async function manifestSize(digest: string): Promise<number> {
  const m = await blob<{ config: Descriptor; layers: Descriptor[] }>(digest);
  return m.layers.reduce((sum, l) => sum + l.size, m.config.size);
}

/** ctr's own listing: ref -> {type, digest}. */
async function ctrImages(): Promise<Map<string, { type: string; digest: string }>> {
  const rows = (await ctr('images', 'ls')).trim().split('\n').slice(1);
  return new Map(
    rows.map((line) => {
      const [ref, type, digest] = line.split(/\s+/) as [string, string, string];
      return [ref, { type, digest }];
    }),
  );
}

describe.skipIf(why)(titled('images and builder cache API', why), () => {
  let server: ServeHandle;
  let broken: ServeHandle;
  const dataDir = () => mkdtempSync(join(tmpdir(), 'opencloud-images-api-'));
  const json = async <T>(res: Response) => (await res.json()) as T;
  const prune = (body: unknown) =>
    fetch(`${server.url}/api/v1/builder/prune`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  beforeAll(async () => {
    const single = mkdtempSync(join(tmpdir(), 'opencloud-images-ctx-'));
    writeFileSync(join(single, 'marker.txt'), `images-api ${Date.now()}\n`);
    writeFileSync(join(single, 'Dockerfile'), 'FROM busybox\nCOPY marker.txt /marker.txt\n');
    await buildWithBase(single, `type=image,name=${REF}`);
    // No RUN step, so every platform builds without emulation.
    const multi = mkdtempSync(join(tmpdir(), 'opencloud-images-ctx-'));
    writeFileSync(join(multi, 'marker.txt'), `images-api multi ${Date.now()}\n`);
    writeFileSync(join(multi, 'Dockerfile'), 'FROM scratch\nCOPY marker.txt /marker.txt\n');
    await buildWithBase(multi, `type=image,name=${MULTI}`, ['--opt', 'platform=linux/amd64,linux/arm64']);
    await run('ctr', ['namespaces', 'create', EMPTY_NS]);

    server = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir()], {
      env: { OPENCLOUD_CONTAINERD_NAMESPACES: `buildkit,default,${EMPTY_NS}` },
    });
    broken = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir()], {
      env: {
        OPENCLOUD_CONTAINERD_SOCKET: '/nonexistent/opencloud-test/containerd.sock',
        OPENCLOUD_BUILDKIT_SOCKET: '/nonexistent/opencloud-test/buildkitd.sock',
      },
    });
  }, 240_000);

  afterAll(async () => {
    for (const s of [server, broken]) s?.child.kill('SIGTERM');
    await Promise.all([server?.exited, broken?.exited]);
    await run('ctr', ['-n', 'buildkit', 'images', 'rm', REF, MULTI]).catch(() => undefined);
    await run('ctr', ['namespaces', 'rm', EMPTY_NS]).catch(() => undefined);
  }, 60_000);

  it("lists a built image with ctr's digest, config + layers as its size and its platform", async () => {
    const res = await fetch(`${server.url}/api/v1/images`);
    expect(res.status).toBe(200);
    const images = await json<Image[]>(res);
    const img = images.find((i) => i.namespace === 'buildkit' && i.name === REF);
    expect(img, JSON.stringify(images.map((i) => `${i.namespace} ${i.name}`))).toBeDefined();

    const listed = (await ctrImages()).get(REF);
    expect(img!.digest).toBe(listed!.digest);
    expect(img!.mediaType).toBe(listed!.type);
    const size = await manifestSize(img!.digest);
    const manifestBytes = (await ctr('content', 'get', img!.digest)).length;
    expect(img!.size).toBe(size);
    expect(img!.size).not.toBe(size + manifestBytes);
    expect(img!.platforms).toEqual([
      { platform: 'linux/amd64', digest: img!.digest, size, created: expect.any(String) },
    ]);
    expect(Date.now() - Date.parse(img!.createdAt!)).toBeLessThan(3_600_000);
  });

  it('sizes a multi-platform index per platform manifest, the total over the platforms', async () => {
    const images = await json<Image[]>(await fetch(`${server.url}/api/v1/images`));
    const img = images.find((i) => i.namespace === 'buildkit' && i.name === MULTI)!;
    expect(img.digest).toBe((await ctrImages()).get(MULTI)!.digest);
    const index = await blob<{ manifests: Descriptor[] }>(img.digest);
    const expected = await Promise.all(
      index.manifests.map(async (m) => ({
        platform: `${m.platform!.os}/${m.platform!.architecture}`,
        digest: m.digest,
        size: await manifestSize(m.digest),
        created: expect.any(String),
      })),
    );
    expect(expected.map((p) => p.platform).sort()).toEqual(['linux/amd64', 'linux/arm64']);
    expect(img.platforms).toEqual(expected);
    expect(img.size).toBe(expected.reduce((sum, p) => sum + p.size, 0));
    expect(img.mediaType).toMatch(/index|manifest\.list/);
  });

  it('sorts by namespace and name, leaves empty namespaces out, and answers the same on /get-images', async () => {
    const images = await json<Image[]>(await fetch(`${server.url}/api/v1/images`));
    const keys = images.map((i) => `${i.namespace}\u0000${i.name}`);
    expect(keys).toEqual([...keys].sort());
    expect(images.some((i) => i.namespace === EMPTY_NS || i.namespace === 'default')).toBe(false);
    const seed = await fetch(`${server.url}/get-images`);
    expect(seed.status).toBe(200);
    expect(await json<Image[]>(seed)).toEqual(images);
  });

  it('answers [] when the configured namespaces hold no images', async () => {
    const s = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir()], {
      env: { OPENCLOUD_CONTAINERD_NAMESPACES: EMPTY_NS },
    });
    try {
      const res = await fetch(`${s.url}/api/v1/images`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('[]');
    } finally {
      s.child.kill('SIGTERM');
      await s.exited;
    }
  });

  it('reports the build cache with sizes', async () => {
    const res = await fetch(`${server.url}/api/v1/builder/disk-usage`);
    expect(res.status).toBe(200);
    const du = await json<{
      totalSize: number;
      reclaimable: number;
      records: { id: string; size: number; inUse: boolean; createdAt: string; recordType: string }[];
    }>(res);
    expect(du.records.length).toBeGreaterThan(0);
    expect(du.records.some((r) => r.size > 0)).toBe(true);
    expect(du.totalSize).toBeGreaterThan(0);
    expect(du.reclaimable).toBeLessThanOrEqual(du.totalSize);
    expect(du.records[0]).toMatchObject({ id: expect.any(String), createdAt: expect.any(String) });
  });

  it('prunes within limits (keeping everything under a huge keepBytes, or a week of use)', async () => {
    const huge = await prune({ keepBytes: 1e15 });
    expect(huge.status).toBe(200);
    const r1 = await json<{ reclaimed: number; records: number }>(huge);
    expect(r1).toEqual({ reclaimed: expect.any(Number), records: expect.any(Number) });
    expect(r1.reclaimed).toBe(0);

    const week = await prune({ keepDuration: 7 * 86400 });
    expect(week.status).toBe(200);
    const r2 = await json<{ reclaimed: number; records: number }>(week);
    expect(typeof r2.reclaimed).toBe('number');
    expect(r2.records).toBeGreaterThanOrEqual(0);
  });

  it('refuses a bad prune body with 400 before touching the cache', async () => {
    for (const body of [
      { keepBytes: -1 },
      { keepDuration: 'a week' },
      { keepBytes: 1e15, olderThan: 5 },
      { all: 'yes', keepBytes: 1e15 },
      [1, 2],
    ]) {
      const res = await prune(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((await json<{ error: { code: string } }>(res)).error.code).toBe('FST_ERR_VALIDATION');
    }
  });

  it('answers 503 with the fix when the daemon sockets are missing', async () => {
    for (const path of ['/api/v1/images', '/get-images']) {
      const res = await fetch(`${broken.url}${path}`);
      expect(res.status).toBe(503);
      const { error } = await json<{ error: { code: string; message: string } }>(res);
      expect(error.code).toBe('CONTAINERD_UNAVAILABLE');
      expect(error.message).toContain(
        'containerd daemon not found at /nonexistent/opencloud-test/containerd.sock. Please ensure containerd is installed and running.',
      );
      expect(error.message).toContain('opencloud services enable container-registry');
    }
    const du = await fetch(`${broken.url}/api/v1/builder/disk-usage`);
    expect(du.status).toBe(503);
    const { error } = await json<{ error: { code: string; message: string } }>(du);
    expect(error.code).toBe('BUILDKIT_UNAVAILABLE');
    expect(error.message).toContain(
      'buildkit daemon not found at /nonexistent/opencloud-test/buildkitd.sock.',
    );
    const pr = await fetch(`${broken.url}/api/v1/builder/prune`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ keepBytes: 1e15 }),
    });
    expect(pr.status).toBe(503);
  });
});
