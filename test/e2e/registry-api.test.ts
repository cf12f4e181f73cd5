// The /v2/ API spoken directly over HTTP against a running server: the flows clients use and
// the precise OCI error for each kind of bad input.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServe, type ServeHandle } from '../support/cli.js';
import { RegistryClient, sha256 } from '../support/registry-client.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
let server: ServeHandle;
let reg: RegistryClient;
const dataDir = mkdtempSync(join(tmpdir(), 'opencloud-registry-api-'));

beforeAll(async () => {
  server = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir]);
  reg = new RegistryClient(server.url);
});
afterAll(async () => {
  server.child.kill('SIGTERM');
  await server.exited;
});

describe('blob uploads', () => {
  it('chunked PATCH with Content-Range, a streamed PATCH, status, and a completing PUT with the last chunk', async () => {
    const start = await reg.req('POST', '/v2/flow/chunked/blobs/uploads/');
    expect(start.status).toBe(202);
    const location = start.headers.get('location') as string;
    expect(location).toMatch(/^\/v2\/flow\/chunked\/blobs\/uploads\/[A-Za-z0-9_-]+$/);
    expect(start.headers.get('range')).toBe('0-0');

    const p1 = await reg.req('PATCH', location, {
      body: 'abcd',
      headers: { 'content-range': '0-3', 'content-type': 'application/octet-stream' },
    });
    expect(p1.status).toBe(202);
    expect(p1.headers.get('range')).toBe('0-3');

    const outOfOrder = await reg.req('PATCH', location, {
      body: 'zz',
      headers: { 'content-range': '10-11' },
    });
    expect(outOfOrder.status).toBe(416);
    expect(outOfOrder.headers.get('range')).toBe('0-3');
    expect(await reg.errorCode(outOfOrder)).toBe('RANGE_INVALID');

    const malformed = await reg.req('PATCH', location, {
      body: 'zz',
      headers: { 'content-range': 'four-five' },
    });
    expect(malformed.status).toBe(400);
    expect(await reg.errorCode(malformed)).toBe('BLOB_UPLOAD_INVALID');

    const streamed = await reg.req('PATCH', location, { body: 'efgh' });
    expect(streamed.status).toBe(202);
    expect(streamed.headers.get('range')).toBe('0-7');

    const status = await reg.req('GET', location);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe('0-7');

    const digest = sha256('abcdefghij');
    const done = await reg.req('PUT', `${location}?digest=${digest}`, {
      body: 'ij',
      headers: { 'content-range': '8-9' },
    });
    expect(done.status).toBe(201);
    expect(done.headers.get('location')).toBe(`/v2/flow/chunked/blobs/${digest}`);
    expect(done.headers.get('docker-content-digest')).toBe(digest);

    const get = await reg.req('GET', `/v2/flow/chunked/blobs/${digest}`);
    expect(await get.text()).toBe('abcdefghij');
    const head = await reg.req('HEAD', `/v2/flow/chunked/blobs/${digest}`);
    expect(head.headers.get('content-length')).toBe('10');
    const ranged = await reg.req('GET', `/v2/flow/chunked/blobs/${digest}`, {
      headers: { range: 'bytes=2-4' },
    });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-range')).toBe('bytes 2-4/10');
    expect(await ranged.text()).toBe('cde');
    const outside = await reg.req('GET', `/v2/flow/chunked/blobs/${digest}`, {
      headers: { range: 'bytes=20-30' },
    });
    expect(outside.status).toBe(416);
    expect(outside.headers.get('content-range')).toBe('bytes */10');
  });

  it('a digest mismatch is DIGEST_INVALID and the session is gone', async () => {
    const start = await reg.req('POST', '/v2/flow/bad/blobs/uploads/');
    const location = start.headers.get('location') as string;
    await reg.req('PATCH', location, { body: 'data' });
    const put = await reg.req('PUT', `${location}?digest=${sha256('other')}`);
    expect(put.status).toBe(400);
    expect(await reg.errorCode(put)).toBe('DIGEST_INVALID');
    const status = await reg.req('GET', location);
    expect(status.status).toBe(404);
    expect(await reg.errorCode(status)).toBe('BLOB_UPLOAD_UNKNOWN');
    expect((await reg.req('HEAD', `/v2/flow/bad/blobs/${sha256('other')}`)).status).toBe(404);
  });

  it('refuses unsupported algorithms, unknown sessions and a missing digest on PUT', async () => {
    const md5 = await reg.req('POST', `/v2/flow/x/blobs/uploads/?digest=md5:${'a'.repeat(32)}`, {
      body: 'x',
    });
    expect(md5.status).toBe(400);
    expect(await reg.errorCode(md5)).toBe('DIGEST_INVALID');
    const unknown = await reg.req('PATCH', '/v2/flow/x/blobs/uploads/nonexistentsession', { body: 'x' });
    expect(unknown.status).toBe(404);
    expect(await reg.errorCode(unknown)).toBe('BLOB_UPLOAD_UNKNOWN');
    const start = await reg.req('POST', '/v2/flow/x/blobs/uploads/');
    const noDigest = await reg.req('PUT', start.headers.get('location') as string);
    expect(noDigest.status).toBe(400);
    expect(await reg.errorCode(noDigest)).toBe('DIGEST_INVALID');
    const cancel = await reg.req('DELETE', start.headers.get('location') as string);
    expect(cancel.status).toBe(204);
    expect((await reg.req('GET', start.headers.get('location') as string)).status).toBe(404);
  });

  it('mounts across repositories (explicit and automatic) and falls back to a session', async () => {
    const digest = await reg.pushBlob('mount/src', 'shared layer');
    const explicit = await reg.req('POST', `/v2/mount/dst/blobs/uploads/?mount=${digest}&from=mount/src`);
    expect(explicit.status).toBe(201);
    expect(explicit.headers.get('location')).toBe(`/v2/mount/dst/blobs/${digest}`);
    const automatic = await reg.req('POST', `/v2/mount/auto/blobs/uploads/?mount=${digest}`);
    expect(automatic.status).toBe(201);
    const missing = await reg.req(
      'POST',
      `/v2/mount/dst2/blobs/uploads/?mount=${sha256('nope')}&from=mount/src`,
    );
    expect(missing.status).toBe(202);
    expect(await (await reg.req('GET', `/v2/mount/auto/blobs/${digest}`)).text()).toBe('shared layer');
  });

  it('many clients pushing the same blob at once all succeed with one blob', async () => {
    const data = Buffer.alloc(256 * 1024, 7);
    const digest = sha256(data);
    const results = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const start = await reg.req('POST', `/v2/race/r${i % 3}/blobs/uploads/`);
        const loc = start.headers.get('location') as string;
        return (await reg.req('PUT', `${loc}?digest=${digest}`, { body: data })).status;
      }),
    );
    expect(results).toEqual(Array(12).fill(201));
    const get = await reg.req('GET', `/v2/race/r1/blobs/${digest}`);
    expect(sha256(Buffer.from(await get.arrayBuffer()))).toBe(digest);
  });

  it('validates repository names', async () => {
    const upper = await reg.req('POST', '/v2/Bad/Name/blobs/uploads/');
    expect(upper.status).toBe(400);
    expect(await reg.errorCode(upper)).toBe('NAME_INVALID');
    const traversal = await reg.req('GET', '/v2/a%2F..%2Fb/tags/list');
    expect(traversal.status).toBe(400);
  });
});

describe('manifests', () => {
  it('stores and serves manifests byte-exact by tag and by digest', async () => {
    const config = await reg.pushBlob('man/exact', '{}');
    // Odd spacing and key order: a re-serialising registry would change the digest.
    const body = `{ "schemaVersion": 2,  "mediaType": "${OCI_MANIFEST}", "config": {"mediaType":"application/vnd.oci.image.config.v1+json","size":2,"digest":"${config}"}, "layers": [] }\n`;
    const put = await reg.pushManifest('man/exact', 'v1', body, OCI_MANIFEST);
    expect(put.status).toBe(201);
    expect(put.headers.get('docker-content-digest')).toBe(sha256(body));
    for (const ref of ['v1', sha256(body)]) {
      const get = await reg.req('GET', `/v2/man/exact/manifests/${ref}`, {
        headers: { accept: OCI_MANIFEST },
      });
      expect(get.status).toBe(200);
      expect(get.headers.get('content-type')).toBe(OCI_MANIFEST);
      expect(get.headers.get('docker-content-digest')).toBe(sha256(body));
      expect(await get.text()).toBe(body);
    }
    const head = await reg.req('HEAD', '/v2/man/exact/manifests/v1');
    expect(head.headers.get('content-length')).toBe(String(Buffer.byteLength(body)));
  });

  it('gives each bad manifest its precise error', async () => {
    const cfg = await reg.pushBlob('man/bad', '{}');
    const good = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cfg, size: 2 },
      layers: [],
    };
    const cases: [string, Response, number, string][] = [
      [
        'invalid JSON',
        await reg.pushManifest('man/bad', 't', '{not json', OCI_MANIFEST),
        400,
        'MANIFEST_INVALID',
      ],
      [
        'contradicting media type',
        await reg.pushManifest('man/bad', 't', good, OCI_INDEX),
        400,
        'MANIFEST_INVALID',
      ],
      [
        'missing blob',
        await reg.pushManifest(
          'man/bad',
          't',
          {
            ...good,
            layers: [
              { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256('absent'), size: 6 },
            ],
          },
          OCI_MANIFEST,
        ),
        400,
        'MANIFEST_BLOB_UNKNOWN',
      ],
      [
        'wrong size',
        await reg.pushManifest(
          'man/bad',
          't',
          { ...good, config: { ...good.config, size: 3 } },
          OCI_MANIFEST,
        ),
        400,
        'MANIFEST_INVALID',
      ],
      [
        'digest mismatch',
        await reg.pushManifest('man/bad', sha256('something else'), good, OCI_MANIFEST),
        400,
        'DIGEST_INVALID',
      ],
      ['bad tag', await reg.pushManifest('man/bad', '-tag', good, OCI_MANIFEST), 400, 'MANIFEST_INVALID'],
      [
        'too big',
        await reg.pushManifest('man/bad', 't', 'x'.repeat(4 * 1024 * 1024 + 1), OCI_MANIFEST),
        413,
        'SIZE_INVALID',
      ],
      [
        'unknown child',
        await reg.pushManifest(
          'man/bad',
          'i',
          {
            schemaVersion: 2,
            mediaType: OCI_INDEX,
            manifests: [{ mediaType: OCI_MANIFEST, digest: sha256('x'), size: 1 }],
          },
          OCI_INDEX,
        ),
        400,
        'MANIFEST_BLOB_UNKNOWN',
      ],
    ];
    for (const [what, res, status, code] of cases) {
      expect(res.status, what).toBe(status);
      expect(await reg.errorCode(res), what).toBe(code);
    }
    const unknown = await reg.req('GET', '/v2/man/bad/manifests/nosuchtag');
    expect(unknown.status).toBe(404);
    expect(await reg.errorCode(unknown)).toBe('MANIFEST_UNKNOWN');
    const noRepo = await reg.req('GET', '/v2/never/pushed/manifests/latest');
    expect(await reg.errorCode(noRepo)).toBe('NAME_UNKNOWN');
  });

  it('untags, deletes by digest, and lists tags with pagination', async () => {
    const img = await reg.pushImage('man/tags', 'a');
    for (const t of ['b', 'c', 'd'])
      expect((await reg.pushManifest('man/tags', t, img.body, OCI_MANIFEST)).status).toBe(201);
    const first = await reg.req('GET', '/v2/man/tags/tags/list?n=2');
    expect(await first.json()).toEqual({ name: 'man/tags', tags: ['a', 'b'] });
    expect(first.headers.get('link')).toBe('</v2/man/tags/tags/list?n=2&last=b>; rel="next"');
    const second = await reg.req('GET', '/v2/man/tags/tags/list?n=2&last=b');
    expect(await second.json()).toEqual({ name: 'man/tags', tags: ['c', 'd'] });
    expect((await reg.req('DELETE', '/v2/man/tags/manifests/a')).status).toBe(202);
    expect(
      ((await (await reg.req('GET', '/v2/man/tags/tags/list')).json()) as { tags: string[] }).tags,
    ).toEqual(['b', 'c', 'd']);
    expect((await reg.req('DELETE', `/v2/man/tags/manifests/${img.digest}`)).status).toBe(202);
    expect(
      ((await (await reg.req('GET', '/v2/man/tags/tags/list')).json()) as { tags: string[] }).tags,
    ).toEqual([]);
    expect((await reg.req('GET', `/v2/man/tags/manifests/${img.digest}`)).status).toBe(404);
    expect((await reg.req('GET', '/v2/not/there/tags/list')).status).toBe(404);
  });

  it('answers the referrers API with artifactType filtering and the OCI-Subject header', async () => {
    const subject = await reg.pushImage('refs/app', 'v1');
    const empty = await reg.pushBlob('refs/app', '{}');
    const attach = async (artifactType: string, payload: string) => {
      const layer = await reg.pushBlob('refs/app', payload);
      const body = JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType,
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 },
        layers: [{ mediaType: 'application/octet-stream', digest: layer, size: payload.length }],
        subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.size },
        annotations: { 'org.example.kind': artifactType },
      });
      const res = await reg.pushManifest('refs/app', sha256(body), body, OCI_MANIFEST);
      expect(res.status).toBe(201);
      expect(res.headers.get('oci-subject')).toBe(subject.digest);
      return sha256(body);
    };
    const sig = await attach('application/vnd.example.signature', 'sig');
    const sbom = await attach('application/vnd.example.sbom', 'sbom');
    const all = await reg.req('GET', `/v2/refs/app/referrers/${subject.digest}`);
    expect(all.headers.get('content-type')).toBe(OCI_INDEX);
    const list = (await all.json()) as {
      manifests: { digest: string; artifactType: string; annotations: Record<string, string> }[];
    };
    expect(list.manifests.map((m) => m.digest).sort()).toEqual([sig, sbom].sort());
    const filtered = await reg.req(
      'GET',
      `/v2/refs/app/referrers/${subject.digest}?artifactType=application/vnd.example.sbom`,
    );
    expect(filtered.headers.get('oci-filters-applied')).toBe('artifactType');
    const only = (await filtered.json()) as {
      manifests: { digest: string; annotations: Record<string, string> }[];
    };
    expect(only.manifests.map((m) => m.digest)).toEqual([sbom]);
    expect(only.manifests[0]?.annotations['org.example.kind']).toBe('application/vnd.example.sbom');
    const none = await reg.req('GET', `/v2/refs/app/referrers/${sha256('unrelated')}`);
    expect(((await none.json()) as { manifests: unknown[] }).manifests).toEqual([]);
  });

  it('negotiates by Accept: an unreadable list falls back to linux/amd64, an unlisted type is refused', async () => {
    const D_M = 'application/vnd.docker.distribution.manifest.v2+json';
    const LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
    const cfg = await reg.pushBlob('neg/app', '{}');
    const image = JSON.stringify({
      schemaVersion: 2,
      mediaType: D_M,
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: cfg, size: 2 },
      layers: [],
    });
    expect((await reg.pushManifest('neg/app', sha256(image), image, D_M)).status).toBe(201);
    const list = JSON.stringify({
      schemaVersion: 2,
      mediaType: LIST,
      manifests: [
        {
          mediaType: D_M,
          digest: sha256(image),
          size: image.length,
          platform: { os: 'linux', architecture: 'amd64' },
        },
      ],
    });
    expect((await reg.pushManifest('neg/app', 'multi', list, LIST)).status).toBe(201);

    const both = await reg.req('GET', '/v2/neg/app/manifests/multi', {
      headers: { accept: `${LIST}, ${D_M}` },
    });
    expect(both.headers.get('content-type')).toBe(LIST);
    const single = await reg.req('GET', '/v2/neg/app/manifests/multi', { headers: { accept: D_M } });
    expect(single.status).toBe(200);
    expect(single.headers.get('docker-content-digest')).toBe(sha256(image));
    expect(await single.text()).toBe(image);
    const refused = await reg.req('GET', `/v2/neg/app/manifests/${sha256(image)}`, {
      headers: { accept: OCI_MANIFEST },
    });
    expect(refused.status).toBe(404);
    expect(await reg.errorCode(refused)).toBe('MANIFEST_UNKNOWN');
    const any = await reg.req('GET', `/v2/neg/app/manifests/${sha256(image)}`, {
      headers: { accept: '*/*' },
    });
    expect(any.headers.get('content-type')).toBe(D_M);
  });

  it('lists repositories in the catalog with pagination', async () => {
    const all = (await (await reg.req('GET', '/v2/_catalog')).json()) as { repositories: string[] };
    expect(all.repositories).toContain('man/exact');
    expect([...all.repositories].sort()).toEqual(all.repositories);
    const page = await reg.req('GET', '/v2/_catalog?n=1');
    expect(((await page.json()) as { repositories: string[] }).repositories).toEqual([all.repositories[0]]);
    expect(page.headers.get('link')).toContain('rel="next"');
  });
});

describe('upload sessions across a restart', () => {
  it('a session begun before a SIGKILL completes after the restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opencloud-restart-'));
    const first = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dir]);
    const c1 = new RegistryClient(first.url);
    const start = await c1.req('POST', '/v2/restart/me/blobs/uploads/');
    const location = start.headers.get('location') as string;
    await c1.req('PATCH', location, { body: 'before the crash, ', headers: { 'content-range': '0-17' } });
    first.child.kill('SIGKILL');
    await first.exited;

    const second = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dir]);
    try {
      const c2 = new RegistryClient(second.url);
      const status = await c2.req('GET', location);
      expect(status.status).toBe(204);
      expect(status.headers.get('range')).toBe('0-17');
      const digest = sha256('before the crash, after it');
      const put = await c2.req('PUT', `${location}?digest=${digest}`, {
        body: 'after it',
        headers: { 'content-range': '18-25' },
      });
      expect(put.status).toBe(201);
      expect(await (await c2.req('GET', `/v2/restart/me/blobs/${digest}`)).text()).toBe(
        'before the crash, after it',
      );
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });
});
