// The UI's list APIs against a real server. GET /api/v1/registry/repositories: the repositories a
// caller may pull with tag count, bytes and last push, sorted, filtered, paged (401 anonymous, an
// empty list for a user without grants, 400 for bad parameters).
// GET /api/v1/registry/tags: a repository of 40 tags, one of them a
// two-platform index and one with referrers, read in one request per page: version order puts
// 0.0.2 before 0.0.10, newest push comes first by default, the filter and the pages add up, sizes
// are what a pull downloads; a pull (a GET of the manifest, by tag or digest, from skopeo or
// fetch) shows as the tag's last pull time, a HEAD or the web UI showing it (OpenCloud-View) does not; one tag
// by name or the tags of one manifest are asked for alone. With authentication on: anonymous is a 401, a user who may not pull
// gets the same 404 as for a repository that does not exist (encoded or not), and oversized or
// unknown parameters are 400s.
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, startServe, type ServeHandle } from '../support/cli.js';
import { missing } from '../support/env.js';
import { RegistryClient, sha256 } from '../support/registry-client.js';

const dataDir = mkdtempSync(join(tmpdir(), 'opencloud-tags-api-'));
const PW = 'tags-api-password-1';
let server: ServeHandle;
let image: { digest: string; layerBytes: number };
let index: { digest: string; sizes: number[] };

interface TagRow {
  name: string;
  digest: string;
  mediaType: string;
  pushedAt: string;
  pulledAt: string | null;
  size: number;
  platforms?: { os: string; architecture: string; digest: string; size: number }[];
  referrers: { artifactType: string | null; count: number }[];
}
interface TagPage {
  repository: string;
  actions: string[];
  total: number;
  offset: number;
  tags: TagRow[];
}

const cli = (args: string[], input = '') => {
  const r = spawnSync(process.execPath, [BIN, ...args, '--data-dir', dataDir], { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`opencloud ${args.join(' ')}: ${r.stderr}`);
};
/** `user` null: no credentials at all. */
const as = (user: string | null): Record<string, string> =>
  user ? { authorization: `Basic ${Buffer.from(`${user}:${PW}`).toString('base64')}` } : {};
const list = async (query: string, user: string | null = 'dev') => {
  const res = await fetch(`${server.url}/api/v1/registry/tags?${query}`, { headers: as(user) });
  return {
    status: res.status,
    body: (await res.json()) as TagPage & { error?: { code: string; message: string } },
  };
};

beforeAll(async () => {
  // Pushed while authentication is off (no users yet), then served again with users.
  const open = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir]);
  const reg = new RegistryClient(open.url);
  const layers = ['layer-one-of-the-tag-list-image', 'layer-two'];
  const pushed = await reg.pushImage('team/app', '0.0.1', {}, layers);
  image = { digest: pushed.digest, layerBytes: layers.reduce((n, l) => n + l.length, 0) };
  const config = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [] },
  });
  // 0.0.1 … 0.0.12, 0.1.0 … 0.1.9, 1.0.0-rc.1, 1.0.0-rc.2, 1.0.0, and more: 40 tags in all.
  const names = [
    ...Array.from({ length: 12 }, (_, i) => `0.0.${i + 1}`),
    ...Array.from({ length: 10 }, (_, i) => `0.1.${i}`),
    '1.0.0-rc.1',
    '1.0.0-rc.2',
    '1.0.0',
    ...Array.from({ length: 14 }, (_, i) => `build-${i}`),
    'latest',
  ];
  for (const name of names.slice(1))
    expect(
      (await reg.pushManifest('team/app', name, pushed.body, 'application/vnd.oci.image.manifest.v1+json'))
        .status,
    ).toBe(201);
  // A two-platform index, tagged multi.
  const kids = [];
  for (const [arch, layer] of [
    ['amd64', 'amd64-layer-bytes'],
    ['arm64', 'arm64-layer-bytes-longer'],
  ] as const) {
    const kid = await reg.pushImage('team/app', `plat-${arch}`, {}, [layer]);
    kids.push({
      arch,
      digest: kid.digest,
      size: Buffer.byteLength(kid.body),
      bytes: layer.length + config.length,
    });
  }
  const indexBody = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: kids.map((k) => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: k.digest,
      size: k.size,
      platform: { os: 'linux', architecture: k.arch },
    })),
  });
  expect(
    (await reg.pushManifest('team/app', 'multi', indexBody, 'application/vnd.oci.image.index.v1+json'))
      .status,
  ).toBe(201);
  index = { digest: sha256(indexBody), sizes: kids.map((k) => k.bytes) };
  // A signature attached to 0.0.1's manifest.
  await reg.pushImage(
    'team/app',
    'sig',
    {
      artifactType: 'application/vnd.example.sig',
      subject: {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: image.digest,
        size: Buffer.byteLength(pushed.body),
      },
    },
    ['sig'],
  );
  await reg.pushImage('team/small', '1', {}, ['s']);
  await reg.pushImage('secret/x', '1', {}, ['a secret layer of some size']);
  open.child.kill('SIGTERM');
  await open.exited;
  cli(['users', 'add', 'admin', '--admin', '--password-stdin'], `${PW}\n`);
  cli(['users', 'add', 'dev', '--password-stdin'], `${PW}\n`);
  cli(['users', 'add', 'nobody', '--password-stdin'], `${PW}\n`);
  cli(['users', 'grant', 'dev', 'team/*', 'pull']);
  server = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir]);
}, 120_000);

afterAll(async () => {
  server?.child.kill('SIGTERM');
  await server?.exited;
});

describe('GET /api/v1/registry/tags', () => {
  it('answers a page with each tag’s digest, size, push time and referrers, newest push first', async () => {
    const { status, body } = await list('repository=team/app&limit=5');
    expect(status).toBe(200);
    expect(body.total).toBe(44); // 40 tags, multi, plat-amd64, plat-arm64, sig
    expect(body.tags).toHaveLength(5);
    const times = body.tags.map((t) => t.pushedAt);
    expect([...times].sort().reverse()).toEqual(times);
    const first = (await list('repository=team/app&filter=0.0.1&sort=name&limit=1')).body.tags[0] as TagRow;
    expect(first).toMatchObject({ name: '0.0.1', digest: image.digest, size: expect.any(Number) });
    // Config and layers: what a pull downloads.
    expect(first.size).toBeGreaterThan(image.layerBytes);
    expect(first.referrers).toEqual([{ artifactType: 'application/vnd.example.sig', count: 1 }]);
  });

  it('version order puts 0.0.2 before 0.0.10 and a release after its candidates; filter and pages add up', async () => {
    const all = (await list('repository=team/app&sort=version&filter=0.&limit=500')).body;
    const names = all.tags.map((t) => t.name);
    expect(names.slice(0, 3)).toEqual(['1.0.0', '1.0.0-rc.2', '1.0.0-rc.1']);
    expect(names.indexOf('0.0.10')).toBeLessThan(names.indexOf('0.0.2'));
    expect(names.indexOf('0.0.2')).toBeLessThan(names.indexOf('0.0.1'));
    expect(all.total).toBe(25);
    const pages = [];
    for (let offset = 0; offset < all.total; offset += 10)
      pages.push(
        ...(await list(`repository=team/app&sort=version&filter=0.&limit=10&offset=${offset}`)).body.tags,
      );
    expect(pages.map((t) => t.name)).toEqual(names);
    expect((await list('repository=team/app&filter=BUILD-1')).body.tags.map((t) => t.name).sort()).toEqual([
      'build-1',
      'build-10',
      'build-11',
      'build-12',
      'build-13',
    ]);
  });

  it('an index lists its platforms, each with its own size, and their sum', async () => {
    const multi = (await list('repository=team/app&filter=multi')).body.tags[0] as TagRow;
    expect(multi.digest).toBe(index.digest);
    expect(multi.platforms?.map((p) => [p.architecture, p.size])).toEqual([
      ['amd64', index.sizes[0]],
      ['arm64', index.sizes[1]],
    ]);
    expect(multi.size).toBe((index.sizes[0] as number) + (index.sizes[1] as number));
  });

  it('one tag by name, or the tags on one manifest, alone; never both', async () => {
    const one = (await list('repository=team/app&tag=multi')).body;
    expect(one.tags.map((t) => t.name)).toEqual(['multi']);
    expect(one.tags[0]?.platforms).toHaveLength(2);
    expect(one.actions).toEqual(['pull']);
    const onImage = (await list(`repository=team/app&digest=${image.digest}&limit=500`)).body;
    expect(onImage.total).toBe(40);
    expect(onImage.tags.every((t) => t.digest === image.digest)).toBe(true);
    expect((await list('repository=team/app&tag=nope')).body).toMatchObject({ total: 0, tags: [] });
    const both = await list(`repository=team/app&tag=multi&digest=${index.digest}`);
    expect(both.status).toBe(400);
    expect(both.body.error?.message).toBe('give tag or digest, not both');
  });

  it("a GET of the manifest is the tag's last pull; a HEAD or the web UI showing it is not", async () => {
    const pulledAt = async (query: string) =>
      ((await list(`repository=team/small&${query}`)).body.tags[0] as TagRow).pulledAt;
    const manifestUrl = `${server.url}/v2/team/small/manifests/1`;
    const accept = { accept: 'application/vnd.oci.image.manifest.v1+json', ...as('dev') };
    expect(await pulledAt('tag=1')).toBeNull();
    expect((await fetch(manifestUrl, { method: 'HEAD', headers: accept })).status).toBe(200);
    const page = await fetch(manifestUrl, { headers: { ...accept, 'opencloud-view': '1' } });
    expect(page.status).toBe(200);
    await page.arrayBuffer();
    expect(await pulledAt('tag=1')).toBeNull();
    const before = new Date().toISOString();
    const pull = await fetch(manifestUrl, { headers: accept });
    expect(pull.status).toBe(200);
    await pull.arrayBuffer();
    const at = await pulledAt('tag=1');
    expect(at && at >= before && at <= new Date().toISOString()).toBe(true);
  });

  it.skipIf(missing('skopeo'))(
    'skopeo reading an index by digest marks the tag on it as pulled',
    async () => {
      const before = new Date().toISOString();
      const host = new URL(server.url).host;
      await promisify(execFile)('skopeo', [
        'inspect',
        '--raw',
        '--tls-verify=false',
        '--creds',
        `dev:${PW}`,
        `docker://${host}/team/app@${index.digest}`,
      ]);
      const multi = (await list('repository=team/app&tag=multi')).body.tags[0] as TagRow;
      expect(multi.pulledAt && multi.pulledAt >= before).toBe(true);
      // The platforms' own manifests were not read, so the tags on them were not pulled.
      expect(((await list('repository=team/app&tag=plat-arm64')).body.tags[0] as TagRow).pulledAt).toBeNull();
    },
  );

  it('refuses anonymous callers, hides repositories a user may not pull, and rejects bad parameters', async () => {
    expect((await list('repository=team/app', null)).status).toBe(401);
    const hidden = await list('repository=team/app', 'nobody');
    const missing = await list('repository=team/nothing', 'dev');
    expect(hidden.status).toBe(404);
    expect(missing.status).toBe(404);
    expect(hidden.body.error?.code).toBe('REPOSITORY_UNKNOWN');
    expect(hidden.body.error?.message).toBe(missing.body.error?.message.replace('team/nothing', 'team/app'));
    // Encoded spellings are the same name to the check and to the query.
    expect((await list('repository=team%2Fapp', 'nobody')).status).toBe(404);
    expect((await list('repository=team%2Fapp&limit=1', 'dev')).status).toBe(200);
    expect((await list('repository=team/../team/app', 'dev')).status).toBe(404);
    expect((await list('repository=team/app', 'admin')).body.actions).toEqual([
      'pull',
      'push',
      'delete',
      'build',
    ]);
    // What the caller may do there, so the UI offers nothing else.
    expect((await list('repository=team/app', 'dev')).body.actions).toEqual(['pull']);
    for (const bad of [
      'repository=team/app&limit=501',
      'repository=team/app&limit=0',
      'repository=team/app&offset=-1',
      'repository=team/app&sort=random',
      `repository=team/app&filter=${'x'.repeat(129)}`,
      `repository=${'a'.repeat(256)}`,
      'repository=team/app&extra=1',
      `repository=team/app&tag=${'t'.repeat(129)}`,
      `repository=team/app&digest=${'d'.repeat(201)}`,
      'repository=team/app&tag=',
      '',
    ])
      expect((await list(bad)).status, bad).toBe(400);
  });
});

describe('GET /api/v1/registry/repositories', () => {
  interface RepoPage {
    total: number;
    offset: number;
    repositories: { name: string; tags: number; size: number; pushedAt: string | null }[];
  }
  const repos = async (query: string, user: string | null = 'dev') => {
    const res = await fetch(`${server.url}/api/v1/registry/repositories?${query}`, { headers: as(user) });
    return { status: res.status, body: (await res.json()) as RepoPage };
  };
  const names = (p: RepoPage) => p.repositories.map((r) => r.name);

  it('lists what the caller may pull, with tag count, bytes and last push, in each order', async () => {
    const mine = (await repos('')).body;
    expect(mine.total).toBe(2);
    expect(names(mine)).toEqual(['team/app', 'team/small']);
    const app = mine.repositories[0];
    expect(app?.tags).toBe(44);
    expect(app?.size).toBeGreaterThan((mine.repositories[1]?.size as number) * 2);
    expect(Date.parse(app?.pushedAt as string)).toBeGreaterThan(0);
    expect(names((await repos('sort=size')).body)).toEqual(['team/app', 'team/small']);
    expect(names((await repos('sort=pushed')).body)).toEqual(['team/small', 'team/app']);
    expect(names((await repos('filter=small')).body)).toEqual(['team/small']);
    const page2 = (await repos('limit=1&offset=1')).body;
    expect([page2.total, names(page2)]).toEqual([2, ['team/small']]);
    expect(names((await repos('', 'admin')).body)).toEqual(['secret/x', 'team/app', 'team/small']);
  });

  it('refuses anonymous callers, shows a user without grants nothing, and rejects bad parameters', async () => {
    expect((await repos('', null)).status).toBe(401);
    const none = await repos('', 'nobody');
    expect([none.status, none.body.total, none.body.repositories]).toEqual([200, 0, []]);
    // Encoded, the filter is the same text; a hidden repository stays hidden under any spelling.
    expect(names((await repos('filter=secret%2Fx')).body)).toEqual([]);
    expect(names((await repos('filter=team%2Fsm')).body)).toEqual(['team/small']);
    for (const bad of [
      'limit=501',
      'limit=0',
      'offset=-1',
      'sort=random',
      `filter=${'x'.repeat(256)}`,
      'extra=1',
    ])
      expect((await repos(bad)).status, bad).toBe(400);
  });
});
