// Two registry nodes on loopback sharing real engines: blobs in S3 (SeaweedFS) and state in
// PostgreSQL, each node with a data dir of its own. A chunked push through one node is pulled
// byte-identical through the other (and by skopeo); a tag moved through one is read moved through
// the other at once; an upload started on one node is finished on the other after the first was
// killed; a blob sent whole goes straight to its key (a wrong one leaves nothing in the bucket);
// garbage collection started on both at once reclaims once and loses nothing; concurrent pushes
// through both into one namespace stop exactly at its quota; a node whose database goes away says
// so on /readyz.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startServe, type ServeHandle } from '../support/cli.js';
import { missing, testEnv, titled } from '../support/env.js';
import { RegistryClient, sha256 } from '../support/registry-client.js';
import { sharedEngines, type SharedEngines } from '../support/scale-out.js';

const run = promisify(execFile);
const why = missing('postgres', 's3', 'skopeo');
const MiB = 1024 * 1024;

describe.skipIf(why)(titled('two registry nodes on S3 and PostgreSQL', why), () => {
  let shared: SharedEngines;
  let a: ServeHandle;
  let b: ServeHandle;

  const start = (env: Record<string, string> = {}) =>
    startServe(['--listen', '127.0.0.1:0', '--data-dir', mkdtempSync(join(tmpdir(), 'opencloud-node-'))], {
      env: { ...shared.env, OPENCLOUD_GC_INTERVAL: '0', ...env },
    });
  const client = (node: ServeHandle) => new RegistryClient(node.url);
  const stop = async (node: ServeHandle | undefined) => {
    if (!node || node.child.exitCode !== null || node.child.signalCode !== null) return;
    node.child.kill('SIGTERM');
    await node.exited;
  };

  /** A chunked upload through `node`: POST, one PATCH per chunk with Content-Range, PUT ?digest=. */
  async function chunkedPush(node: ServeHandle, repo: string, chunks: Buffer[]): Promise<string> {
    const c = client(node);
    const digest = sha256(Buffer.concat(chunks));
    let res = await c.req('POST', `/v2/${repo}/blobs/uploads/`);
    expect(res.status).toBe(202);
    let location = res.headers.get('location') as string;
    let offset = 0;
    for (const chunk of chunks) {
      res = await c.req('PATCH', location, {
        body: chunk,
        headers: {
          'content-type': 'application/octet-stream',
          'content-range': `${offset}-${offset + chunk.length - 1}`,
          'content-length': String(chunk.length),
        },
      });
      expect(res.status, await res.clone().text()).toBe(202);
      offset += chunk.length;
      location = res.headers.get('location') as string;
    }
    res = await c.req('PUT', `${location}${location.includes('?') ? '&' : '?'}digest=${digest}`);
    expect(res.status, await res.clone().text()).toBe(201);
    return digest;
  }

  async function imageOf(node: ServeHandle, repo: string, tag: string, layers: Buffer[][]) {
    const layerDigests: string[] = [];
    for (const chunks of layers) layerDigests.push(await chunkedPush(node, repo, chunks));
    const config = Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
    );
    const configDigest = await client(node).pushBlob(repo, config);
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: configDigest,
        size: config.length,
      },
      layers: layers.map((chunks, i) => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        digest: layerDigests[i],
        size: chunks.reduce((n, c) => n + c.length, 0),
      })),
    });
    const res = await client(node).pushManifest(
      repo,
      tag,
      manifest,
      'application/vnd.oci.image.manifest.v1+json',
    );
    expect(res.status, await res.clone().text()).toBe(201);
    return { manifestDigest: sha256(manifest), layerDigests, configDigest };
  }

  const blobBytes = async (node: ServeHandle, repo: string, digest: string) => {
    const res = await client(node).req('GET', `/v2/${repo}/blobs/${digest}`);
    expect(res.status).toBe(200);
    return Buffer.from(await res.arrayBuffer());
  };

  beforeAll(async () => {
    shared = await sharedEngines('nodes');
    a = await start();
    b = await start();
  }, 120_000);

  afterAll(async () => {
    await stop(a);
    await stop(b);
    await shared?.drop();
  }, 60_000);

  it('a chunked push through node A is pulled byte-identical through node B and by skopeo', async () => {
    const layer = [randomBytes(6 * MiB), randomBytes(6 * MiB), randomBytes(6 * MiB), randomBytes(MiB)];
    const small = [randomBytes(MiB), randomBytes(MiB), randomBytes(300_000)];
    const pushed = await imageOf(a, 'team/app', 'v1', [layer, small]);

    const tags = (await (await client(b).req('GET', '/v2/team/app/tags/list')).json()) as { tags: string[] };
    expect(tags.tags).toEqual(['v1']);
    const got = await client(b).req('GET', '/v2/team/app/manifests/v1', {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(got.headers.get('docker-content-digest')).toBe(pushed.manifestDigest);
    expect(sha256(Buffer.from(await got.arrayBuffer()))).toBe(pushed.manifestDigest);
    // Compared by digest: a failing toEqual on megabytes would print (and allocate) them all.
    expect(sha256(await blobBytes(b, 'team/app', pushed.layerDigests[0] as string))).toBe(
      sha256(Buffer.concat(layer)),
    );
    expect(sha256(await blobBytes(b, 'team/app', pushed.layerDigests[1] as string))).toBe(
      sha256(Buffer.concat(small)),
    );
    // A range read through B comes from the middle of the S3 object.
    const ranged = await client(b).req('GET', `/v2/team/app/blobs/${pushed.layerDigests[0]}`, {
      headers: { range: 'bytes=6291000-6292000' },
    });
    expect(ranged.status).toBe(206);
    expect(sha256(Buffer.from(await ranged.arrayBuffer()))).toBe(
      sha256(Buffer.concat(layer).subarray(6291000, 6292001)),
    );

    // dir: keeps every blob as it came, named by its digest.
    const out = mkdtempSync(join(tmpdir(), 'opencloud-nodes-dir-'));
    await run('skopeo', [
      'copy',
      '--src-tls-verify=false',
      `docker://${new URL(b.url).host}/team/app:v1`,
      `dir:${out}`,
    ]);
    for (const d of pushed.layerDigests) {
      const copied = readFileSync(join(out, d.slice('sha256:'.length)));
      expect(createHash('sha256').update(copied).digest('hex')).toBe(d.slice('sha256:'.length));
    }
  }, 180_000);

  it('a tag moved or a manifest deleted through node A is seen at once through node B (which keeps answers)', async () => {
    const accept = { accept: 'application/vnd.oci.image.manifest.v1+json' };
    const layer = await client(a).pushBlob('team/moving', randomBytes(1000));
    const config = await client(a).pushBlob('team/moving', '{}');
    for (let i = 0; i < 20; i++) {
      const manifest = JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer, size: 1000 }],
        annotations: { round: String(i) },
      });
      const pushed = await client(a).pushManifest('team/moving', 'latest', manifest, accept.accept);
      expect(pushed.status).toBe(201);
      // Asked twice: the second answer comes from B's memory, and still must be the new one.
      for (let k = 0; k < 2; k++) {
        const got = await client(b).req('GET', '/v2/team/moving/manifests/latest', { headers: accept });
        expect(got.headers.get('docker-content-digest')).toBe(sha256(manifest));
        await got.arrayBuffer();
      }
    }
    const last = (
      await client(b).req('HEAD', '/v2/team/moving/manifests/latest', { headers: accept })
    ).headers.get('docker-content-digest') as string;
    expect((await client(a).req('DELETE', `/v2/team/moving/manifests/${last}`)).status).toBe(202);
    expect((await client(b).req('GET', '/v2/team/moving/manifests/latest', { headers: accept })).status).toBe(
      404,
    );
    expect(
      (await client(b).req('HEAD', `/v2/team/moving/manifests/${last}`, { headers: accept })).status,
    ).toBe(404);
  }, 60_000);

  it('an upload started on node A is finished on node B after A was killed', async () => {
    const part1 = randomBytes(7 * MiB);
    const part2 = randomBytes(3 * MiB);
    const digest = sha256(Buffer.concat([part1, part2]));
    let res = await client(a).req('POST', '/v2/team/resume/blobs/uploads/');
    expect(res.status).toBe(202);
    res = await client(a).req('PATCH', res.headers.get('location') as string, {
      body: part1,
      headers: { 'content-type': 'application/octet-stream', 'content-range': `0-${part1.length - 1}` },
    });
    expect(res.status).toBe(202);
    const location = res.headers.get('location') as string;
    a.child.kill('SIGKILL');
    await a.exited;

    // B knows the session (state in PostgreSQL, data in S3): its status, then the rest.
    const status = await client(b).req('GET', location);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe(`0-${part1.length - 1}`);
    res = await client(b).req('PATCH', location, {
      body: part2,
      headers: {
        'content-type': 'application/octet-stream',
        'content-range': `${part1.length}-${part1.length + part2.length - 1}`,
      },
    });
    expect(res.status, await res.clone().text()).toBe(202);
    const next = res.headers.get('location') as string;
    res = await client(b).req('PUT', `${next}${next.includes('?') ? '&' : '?'}digest=${digest}`);
    expect(res.status, await res.clone().text()).toBe(201);
    expect(sha256(await blobBytes(b, 'team/resume', digest))).toBe(digest);

    a = await start(); // back for the next test
  }, 120_000);

  it('a blob sent whole (POST ?digest=, POST + PUT) goes straight to its key; a wrong one leaves nothing', async () => {
    const s3 = testEnv!.components.s3!;
    const bucket = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region ?? 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId!, secretAccessKey: s3.secretAccessKey! },
    });
    const objects = async (under: string) =>
      (
        (await bucket.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: shared.prefix + under })))
          .Contents ?? []
      ).map((o) => o.Key);
    const unfinished = async () =>
      (await bucket.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket, Prefix: shared.prefix })))
        .Uploads ?? [];
    try {
      const sessionsBefore = await objects('uploads/');
      // Larger than a part (8 MiB): a multipart upload at the blob's key, completed once verified.
      const big = randomBytes(12 * MiB + 5);
      const bigDigest = await client(a).pushBlob('team/whole', big);
      const small = randomBytes(3 * MiB);
      const smallDigest = sha256(small);
      let res = await client(b).req('POST', '/v2/team/whole/blobs/uploads/');
      expect(res.status).toBe(202);
      const location = res.headers.get('location') as string;
      res = await client(b).req('PUT', `${location}?digest=${smallDigest}`, {
        body: small,
        headers: { 'content-type': 'application/octet-stream' },
      });
      expect(res.status, await res.clone().text()).toBe(201);
      expect(sha256(await blobBytes(b, 'team/whole', bigDigest))).toBe(bigDigest);
      expect(sha256(await blobBytes(a, 'team/whole', smallDigest))).toBe(smallDigest);
      for (const d of [bigDigest, smallDigest])
        expect(await objects(`blobs/sha256/${d.slice(7, 9)}/${d.slice(7)}`)).toHaveLength(1);

      // A body that is not what its digest says: refused, and neither its bytes nor a part stay.
      const other = randomBytes(10 * MiB);
      res = await client(a).req('POST', `/v2/team/whole/blobs/uploads/?digest=${sha256('not this')}`, {
        body: other,
        headers: { 'content-type': 'application/octet-stream' },
      });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe('DIGEST_INVALID');
      for (const d of [sha256('not this'), sha256(other)])
        expect((await client(b).req('HEAD', `/v2/team/whole/blobs/${d}`)).status).toBe(404);
      expect(await objects(`blobs/sha256/${sha256(other).slice(7, 9)}/`)).toEqual([]);
      expect(await unfinished()).toEqual([]);
      expect(await objects('uploads/')).toEqual(sessionsBefore);
    } finally {
      bucket.destroy();
    }
  }, 120_000);

  it('garbage collection started on both nodes at once reclaims once and loses nothing', async () => {
    // Orphans: blobs no manifest references (grace period 0 below makes them collectable).
    const orphans = [randomBytes(2 * MiB), randomBytes(MiB), randomBytes(1234)];
    for (const o of orphans) await client(a).pushBlob('team/orphans', o);
    const kept = await imageOf(b, 'team/kept', 'v1', [[randomBytes(MiB)]]);

    const gc = (node: ServeHandle) =>
      fetch(`${node.url}/api/v1/registry/gc`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ gracePeriod: 0 }),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));
    const [ra, rb] = await Promise.all([gc(a), gc(b)]);
    const ran = [ra, rb].filter((r) => r.status === 200);
    const refused = [ra, rb].filter((r) => r.status === 409);
    // Either one ran while the other was refused, or (if one finished first) the second found
    // nothing: no blob is reclaimed twice, every orphan once (the resumed upload's blob of the
    // test before is one too), and nothing a tag reaches.
    expect(ran.length + refused.length, JSON.stringify([ra, rb])).toBe(2);
    for (const r of refused) expect(JSON.stringify(r.body)).toContain('GC_RUNNING');
    const reclaimed = ran.flatMap((r) => r.body.blobs as { digest: string; size: number }[]);
    const digests = reclaimed.map((x) => x.digest);
    expect(new Set(digests).size).toBe(digests.length);
    for (const o of orphans) expect(digests).toContain(sha256(o));
    for (const d of [...kept.layerDigests, kept.configDigest, kept.manifestDigest])
      expect(digests).not.toContain(d);
    const bytes = ran.reduce((n, r) => n + Number(r.body.bytesReclaimed), 0);
    expect(bytes).toBe(reclaimed.reduce((n, x) => n + x.size, 0));

    for (const o of orphans) {
      const head = await client(b).req('HEAD', `/v2/team/orphans/blobs/${sha256(o)}`);
      expect(head.status).toBe(404);
    }
    // Everything a tag reaches is still whole, through either node.
    for (const node of [a, b]) {
      const m = await client(node).req('GET', '/v2/team/kept/manifests/v1', {
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      expect(m.status).toBe(200);
      expect(sha256(Buffer.from(await m.arrayBuffer()))).toBe(kept.manifestDigest);
      for (const d of [...kept.layerDigests, kept.configDigest]) {
        expect(sha256(await blobBytes(node, 'team/kept', d))).toBe(d);
      }
      expect(sha256(await blobBytes(node, 'team/app', (await firstLayer(node)) as string))).toBeTruthy();
    }
  }, 180_000);

  /** The first layer of team/app:v1 (pushed by the first test), to check it survived collection. */
  async function firstLayer(node: ServeHandle): Promise<string | undefined> {
    const m = await client(node).req('GET', '/v2/team/app/manifests/v1', {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    return ((await m.json()) as { layers: { digest: string }[] }).layers[0]?.digest;
  }

  it('a node with storage.s3.redirect sends blob downloads to S3 through a presigned URL', async () => {
    const c = await start({ OPENCLOUD_STORAGE_S3_REDIRECT: 'true' });
    try {
      const data = randomBytes(3 * MiB);
      const digest = await client(a).pushBlob('team/redirect', data);
      const res = await client(c).req('GET', `/v2/team/redirect/blobs/${digest}`);
      expect(res.status).toBe(307);
      const location = res.headers.get('location') as string;
      expect(location.startsWith(shared.env.OPENCLOUD_STORAGE_S3_ENDPOINT as string)).toBe(true);
      expect(location).toContain('X-Amz-Signature=');
      const fromS3 = await fetch(location);
      expect(fromS3.status).toBe(200);
      expect(sha256(Buffer.from(await fromS3.arrayBuffer()))).toBe(digest);
      // Unknown blobs are still the registry's answer, not a URL to nothing.
      const missing = await client(c).req('GET', `/v2/team/redirect/blobs/${sha256('absent')}`);
      expect(missing.status).toBe(404);
      // A real client follows it: skopeo pulls an image whose layers come from S3.
      await imageOf(a, 'team/redirect', 'v1', [[data]]);
      const out = mkdtempSync(join(tmpdir(), 'opencloud-nodes-redirect-'));
      await run('skopeo', [
        'copy',
        '--src-tls-verify=false',
        `docker://${new URL(c.url).host}/team/redirect:v1`,
        `dir:${out}`,
      ]);
      expect(
        createHash('sha256')
          .update(readFileSync(join(out, digest.slice(7))))
          .digest('hex'),
      ).toBe(digest.slice(7));
    } finally {
      await stop(c);
    }
  }, 120_000);

  it('concurrent pushes through both nodes into one namespace with a quota never pass it', async () => {
    const put = await fetch(`${a.url}/api/v1/policies/quotas`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ rules: [{ repositories: 'quota2/**', bytes: 20_000 }] }),
    });
    expect(put.status).toBe(200);
    const pushes = Array.from({ length: 40 }, (_, i) => {
      const node = i % 2 ? a : b;
      const body = randomBytes(1000);
      return client(node)
        .req('POST', `/v2/quota2/${i % 4 < 2 ? 'one' : 'two'}/blobs/uploads/?digest=${sha256(body)}`, {
          body,
          headers: { 'content-type': 'application/octet-stream' },
        })
        .then((r) => r.status);
    });
    const statuses = await Promise.all(pushes);
    expect(statuses.filter((s) => s === 201)).toHaveLength(20);
    expect(statuses.filter((s) => s === 403)).toHaveLength(20);
    const usage = (await (await fetch(`${b.url}/api/v1/policies/quotas/usage`)).json()) as {
      quotas: { used: number }[];
    };
    expect(usage.quotas[0]?.used).toBe(20_000);
    await fetch(`${a.url}/api/v1/policies/quotas`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ rules: [] }),
    });
  });

  it('a registry token issued by one node is accepted by the other (the key is in PostgreSQL)', async () => {
    const added = await runCli(
      [
        'users',
        'add',
        'ops',
        '--admin',
        '--generate',
        '--data-dir',
        mkdtempSync(join(tmpdir(), 'opencloud-cli-')),
      ],
      { env: shared.env },
    );
    expect(added.code, added.stderr).toBe(0);
    const password = /password: (\S+)/.exec(added.stdout)?.[1] as string;
    // Authentication is on on every node once a user exists in the shared state.
    const deadline = Date.now() + 15_000;
    while ((await client(b).req('GET', '/v2/')).status !== 401) {
      expect(Date.now(), 'node B never asked for credentials').toBeLessThan(deadline);
      await new Promise((res) => setTimeout(res, 250));
    }
    const basic = `Basic ${Buffer.from(`ops:${password}`).toString('base64')}`;
    const tokenFrom = async (node: ServeHandle) => {
      const r = await fetch(
        `${node.url}/auth/token?service=opencloud-registry&scope=repository:team/app:pull`,
        {
          headers: { authorization: basic },
        },
      );
      expect(r.status).toBe(200);
      return ((await r.json()) as { token: string }).token;
    };
    for (const [issuer, user] of [
      [a, b],
      [b, a],
    ] as const) {
      const token = await tokenFrom(issuer);
      const r = await client(user).req('GET', '/v2/team/app/tags/list', {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(r.status, await r.clone().text()).toBe(200);
      expect(((await r.json()) as { tags: string[] }).tags).toEqual(['v1']);
    }
  }, 60_000);

  it('/readyz names the state database when it stops answering', async () => {
    const ready = await fetch(`${b.url}/readyz`);
    expect(ready.status).toBe(200);
    // The database is dropped under the node (forcibly: its connections are cut).
    await shared.drop();
    const deadline = Date.now() + 15_000;
    let last: { status: number; body: string } = { status: 0, body: '' };
    while (Date.now() < deadline) {
      const r = await fetch(`${b.url}/readyz`);
      last = { status: r.status, body: await r.text() };
      if (r.status === 503) break;
      await new Promise((res) => setTimeout(res, 300));
    }
    expect(last.status, last.body).toBe(503);
    expect(last.body).toContain('state database');
  }, 60_000);
});
