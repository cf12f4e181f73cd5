// Immutable tags as code, against a real server with authentication on: a ledger document with an
// immutable-tags rule applied by `opencloud ledger apply`; a matching tag is pushed once, then a
// different manifest under it is DENIED naming the policy (the same manifest again is fine), and
// deleting it by tag or by digest is DENIED, for an admin too; tags the rule does not match move
// freely. Eight concurrent first pushes of one new fixed tag: exactly one wins. `ledger diff` of
// the document is clean afterwards; `policies immutable-tags set|remove` and the API change the
// rules (admins only: anonymous 401, a user 403, a bad rule or too many 400), and `ledger apply`
// refuses a document whose rules do not check out. Quotas: a push that would take a namespace
// past its quota is DENIED naming it while another namespace still takes pushes, a blob the
// namespace holds already counts once, usage is shown by the API, the CLI and /metrics, and the
// ledger carries quotas. Retention: set by the CLI, the dry run of
// garbage collection names exactly the tags the real run deletes (the newest, the matching, the
// recently pulled and the fixed ones stay; untagged manifests go unless a signature holds them),
// each deletion audited; the ledger exports, diffs and applies the rules; the API replaces them.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, startServe, type ServeHandle } from '../support/cli.js';
import { RegistryClient, sha256 } from '../support/registry-client.js';

const root = mkdtempSync(join(tmpdir(), 'opencloud-policies-'));
const dataDir = join(root, 'data');
const PW = { admin: 'policies-admin-1', dev: 'policies-dev-1' };
const basic = (user: 'admin' | 'dev') => `Basic ${Buffer.from(`${user}:${PW[user]}`).toString('base64')}`;
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
let server: ServeHandle;
let dev: RegistryClient;
let admin: RegistryClient;

const cli = (args: string[], input = '') =>
  spawnSync(process.execPath, [BIN, ...args, '--data-dir', dataDir], { input, encoding: 'utf8' });

function documentWith(policies: unknown): string {
  const path = join(root, `doc-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(
    path,
    JSON.stringify({
      kind: 'opencloud-ledger',
      version: 1,
      exportedAt: '2026-12-08T00:00:00.000Z',
      services: [],
      registry: { repositories: [] },
      policies,
    }),
  );
  return path;
}

const RULES = { retention: [], immutableTags: [{ repositories: 'team/**', tags: '^v[0-9]' }], quotas: [] };

/** An image manifest whose config and layer `seed` makes unique. */
async function image(client: RegistryClient, repo: string, seed: string) {
  const config = await client.pushBlob(repo, `{"seed":"${seed}"}`);
  const layer = await client.pushBlob(repo, `layer-${seed}`);
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: MANIFEST,
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: config,
      size: `{"seed":"${seed}"}`.length,
    },
    layers: [
      { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer, size: `layer-${seed}`.length },
    ],
  });
}

const tagDigest = async (repo: string, tag: string) =>
  (await admin.req('HEAD', `/v2/${repo}/manifests/${tag}`, { headers: { accept: MANIFEST } })).headers.get(
    'docker-content-digest',
  );

beforeAll(async () => {
  for (const [name, pw, flags] of [
    ['admin', PW.admin, ['--admin']],
    ['dev', PW.dev, []],
  ] as const)
    expect(cli(['users', 'add', name, ...flags, '--password-stdin'], `${pw}\n`).status).toBe(0);
  expect(cli(['users', 'grant', 'dev', '**', 'pull,push,delete']).status).toBe(0);
  const applied = cli(['ledger', 'apply', documentWith(RULES), '--yes']);
  expect(applied.status, applied.stderr).toBe(0);
  expect(applied.stdout).toContain('policies: immutable tags in team/** (none) → /^v[0-9]/: applied');
  server = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir]);
  dev = new RegistryClient(server.url, basic('dev'));
  admin = new RegistryClient(server.url, basic('admin'));
}, 60_000);

afterAll(async () => {
  server?.child.kill('SIGTERM');
  await server?.exited;
});

describe('immutable tags', () => {
  it('a fixed tag is pushed once, then neither moved nor deleted, by anyone; others move freely', async () => {
    const first = await image(dev, 'team/app', 'one');
    const second = await image(dev, 'team/app', 'two');
    expect((await dev.pushManifest('team/app', 'v1', first, MANIFEST)).status).toBe(201);
    const digest = await tagDigest('team/app', 'v1');
    // The same manifest again changes nothing and is fine.
    expect((await dev.pushManifest('team/app', 'v1', first, MANIFEST)).status).toBe(201);
    for (const client of [dev, admin]) {
      const moved = await client.pushManifest('team/app', 'v1', second, MANIFEST);
      expect(moved.status).toBe(403);
      const body = (await moved.json()) as { errors: { code: string; message: string }[] };
      expect(body.errors[0]?.code).toBe('DENIED');
      expect(body.errors[0]?.message).toBe(
        `tag v1 of team/app is immutable (the immutable-tags policy for team/** (tags matching /^v[0-9]/)): it points at ${digest} and cannot be moved`,
      );
      expect((await client.req('DELETE', '/v2/team/app/manifests/v1')).status).toBe(403);
      expect((await client.req('DELETE', `/v2/team/app/manifests/${digest}`)).status).toBe(403);
    }
    // Push by digest with ?tag= (OCI 1.1) is held to it too.
    const byDigest = await dev.req('PUT', `/v2/team/app/manifests/${sha256(second)}?tag=v1`, {
      body: second,
      headers: { 'content-type': MANIFEST },
    });
    expect(byDigest.status).toBe(403);
    expect(await dev.errorCode(byDigest)).toBe('DENIED');
    expect(await tagDigest('team/app', 'v1')).toBe(digest);
    // Not matched: latest, and v1 elsewhere.
    for (const [repo, tag] of [
      ['team/app', 'latest'],
      ['other/app', 'v1'],
    ] as const) {
      expect((await dev.pushManifest(repo, tag, await image(dev, repo, `${tag}-a`), MANIFEST)).status).toBe(
        201,
      );
      expect((await dev.pushManifest(repo, tag, await image(dev, repo, `${tag}-b`), MANIFEST)).status).toBe(
        201,
      );
      expect((await dev.req('DELETE', `/v2/${repo}/manifests/${tag}`)).status).toBe(202);
    }
  });

  it('eight concurrent first pushes of a new fixed tag: exactly one wins', async () => {
    const bodies = await Promise.all(
      Array.from({ length: 8 }, (_, i) => image(dev, 'team/race', `race-${i}`)),
    );
    const statuses = await Promise.all(
      bodies.map((b) => dev.pushManifest('team/race', 'v2', b, MANIFEST).then((r) => r.status)),
    );
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 403)).toHaveLength(7);
    expect(await tagDigest('team/race', 'v2')).toBe(sha256(bodies[statuses.indexOf(201)] as string));
  });

  it('the document is what the instance holds: ledger diff is clean, export carries the rule', () => {
    const diff = cli(['ledger', 'diff', documentWith(RULES)]);
    expect(diff.stdout.trim(), diff.stderr).toBe('no differences');
    expect(diff.status).toBe(0);
    const exported = JSON.parse(cli(['ledger', 'export']).stdout) as { policies: unknown };
    expect(exported.policies).toEqual(RULES);
  });

  it('the CLI sets and removes rules; ledger diff then names the difference', () => {
    const set = cli(['policies', 'immutable-tags', 'set', 'other/*', '^rel-']);
    expect(set.status, set.stderr).toBe(0);
    const list = cli(['policies', 'list']);
    expect(list.stdout).toBe('immutable-tags  other/*  /^rel-/\nimmutable-tags  team/**  /^v[0-9]/\n');
    const diff = cli(['ledger', 'diff', documentWith(RULES)]);
    expect(diff.stdout).toContain('policies: immutable tags in other/* /^rel-/ → (none)');
    expect(diff.status).toBe(1);
    expect(cli(['policies', 'immutable-tags', 'remove', 'other/*']).status).toBe(0);
    const missing = cli(['policies', 'immutable-tags', 'remove', 'nothing/*']);
    expect(missing.status).toBe(64);
    expect(missing.stderr).toContain('no immutable-tags rule for nothing/*');
    const bad = cli(['policies', 'immutable-tags', 'set', 'x/*', '(']);
    expect(bad.status).toBe(64);
    expect(bad.stderr).toContain('is not a regular expression');
  });

  it('ledger apply refuses a document whose policies do not check out, changing nothing', () => {
    const r = cli([
      'ledger',
      'apply',
      documentWith({ ...RULES, quotas: [{ repositories: 'team/**', bytes: 0 }] }),
      '--yes',
    ]);
    expect(r.status).toBe(65);
    expect(r.stderr).toContain('policies.quotas[0]: bytes must be a whole number above 0');
    expect(JSON.parse(cli(['policies', 'list', '--json']).stdout)).toEqual(RULES);
  });

  it('the API: admins read and replace the rules; others, bad rules and too many are refused', async () => {
    const put = (auth: string | undefined, body: unknown, path = '/api/v1/policies/immutable-tags') =>
      fetch(`${server.url}${path}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
        body: JSON.stringify(body),
      });
    const rules = { rules: [{ repositories: 'team/**', tags: '^v[0-9]' }] };
    expect((await put(undefined, rules)).status).toBe(401);
    expect((await put(basic('dev'), rules)).status).toBe(403);
    expect(
      (await fetch(`${server.url}/api/v1/policies`, { headers: { authorization: basic('dev') } })).status,
    ).toBe(403);
    expect((await put(basic('dev'), rules, '/api/v1/policies/immutable%2Dtags')).status).toBe(403);
    for (const bad of [
      { rules: [{ repositories: 'team/**', tags: '(' }] },
      // Exponential on a tag a pusher chooses: refused when stored.
      { rules: [{ repositories: 'team/**', tags: '^(a+)+$' }] },
      { rules: [{ repositories: 'Team', tags: 'x' }] },
      {
        rules: [
          { repositories: 'a', tags: 'x' },
          { repositories: 'a', tags: 'y' },
        ],
      },
      { rules: [{ repositories: 'a', tags: 'x'.repeat(257) }] },
      { rules: Array.from({ length: 101 }, (_, i) => ({ repositories: `r${i}`, tags: 'x' })) },
      { rules: [{ repositories: 'a', tags: 'x', extra: 1 }] },
    ]) {
      const res = await put(basic('admin'), bad);
      expect(res.status, JSON.stringify(bad).slice(0, 80)).toBe(400);
    }
    const got = await fetch(`${server.url}/api/v1/policies`, { headers: { authorization: basic('admin') } });
    expect(await got.json()).toEqual(RULES);
    // Removing the rule frees the tag.
    expect((await put(basic('admin'), { rules: [] })).status).toBe(200);
    expect(
      (await dev.pushManifest('team/app', 'v1', await image(dev, 'team/app', 'three'), MANIFEST)).status,
    ).toBe(201);
  });
});

describe('retention', () => {
  const gc = async (body: Record<string, unknown>) => {
    const res = await fetch(`${server.url}/api/v1/registry/gc`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: basic('admin') },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as {
      tagsRemoved: string[];
      untaggedManifests: { repository: string; digest: string }[];
    };
  };

  it('the dry run names exactly the tags a real run deletes; kept, pulled and fixed tags stay', async () => {
    // Pushed oldest first: old-1, fixed-1, old-2, v1, pulled, new-1, new-2.
    const order = ['old-1', 'fixed-1', 'old-2', 'v1', 'pulled', 'new-1', 'new-2'];
    for (const tag of order) {
      expect(
        (await dev.pushManifest('ret/app', tag, await image(dev, 'ret/app', `ret-${tag}`), MANIFEST)).status,
      ).toBe(201);
      await new Promise((r) => setTimeout(r, 5)); // distinct push times
    }
    // An untagged manifest, and an untagged one with a signature attached (kept with it).
    const lonely = await image(dev, 'ret/app', 'ret-lonely');
    expect((await dev.pushManifest('ret/app', sha256(lonely), lonely, MANIFEST)).status).toBe(201);
    const signed = await image(dev, 'ret/app', 'ret-signed');
    expect((await dev.pushManifest('ret/app', sha256(signed), signed, MANIFEST)).status).toBe(201);
    const signature = JSON.stringify({
      ...JSON.parse(await image(dev, 'ret/app', 'ret-signature')),
      artifactType: 'application/vnd.example.sig',
      subject: { mediaType: MANIFEST, digest: sha256(signed), size: Buffer.byteLength(signed) },
    });
    expect((await dev.pushManifest('ret/app', sha256(signature), signature, MANIFEST)).status).toBe(201);
    // A real client's pull (a GET of the manifest) keeps "pulled".
    const pull = await dev.req('GET', '/v2/ret/app/manifests/pulled', { headers: { accept: MANIFEST } });
    expect(pull.status).toBe(200);
    await pull.arrayBuffer();

    const set = cli([
      'policies',
      'retention',
      'set',
      'ret/**',
      '--keep-last',
      '2',
      '--keep-tags',
      '^v',
      '--pulled-within-days',
      '30',
      '--untagged-after-days',
      '0',
    ]);
    expect(set.status, set.stderr).toBe(0);
    expect(cli(['policies', 'immutable-tags', 'set', 'ret/**', '^fixed']).status).toBe(0);

    const preview = await gc({ dryRun: true, gracePeriod: 0 });
    expect(preview.tagsRemoved).toEqual(['ret/app:old-1', 'ret/app:old-2']);
    const real = await gc({ gracePeriod: 0 });
    expect(real.tagsRemoved).toEqual(preview.tagsRemoved);
    // Untagged now or before, alone: gone; the signed one and its signature: kept.
    const removed = real.untaggedManifests.filter((m) => m.repository === 'ret/app').map((m) => m.digest);
    expect(removed).toContain(sha256(lonely));
    expect(removed).not.toContain(sha256(signed));
    expect(removed).not.toContain(sha256(signature));
    expect(removed).toHaveLength(3); // old-1's, old-2's and the lonely one
    const left = (await (await dev.req('GET', '/v2/ret/app/tags/list')).json()) as { tags: string[] };
    expect(left.tags.sort()).toEqual(['fixed-1', 'new-1', 'new-2', 'pulled', 'v1']);
    // Each deletion is in the audit trail.
    const audit = (await (
      await fetch(`${server.url}/api/v1/audit?limit=200`, { headers: { authorization: basic('admin') } })
    ).json()) as { entries: { action: string; target: string }[] };
    const deletions = audit.entries.filter((e) => e.action === 'retention-delete').map((e) => e.target);
    expect(deletions.sort()).toEqual(['ret/app:old-1', 'ret/app:old-2']);
    // A second run finds nothing more.
    expect((await gc({ gracePeriod: 0 })).tagsRemoved).toEqual([]);
  });

  it('retention racing pushes never deletes a tag a rule keeps', async () => {
    expect(
      cli(['policies', 'retention', 'set', 'race/**', '--keep-last', '3', '--keep-tags', '^keep-']).status,
    ).toBe(0);
    const pushes = (async () => {
      for (let i = 0; i < 30; i++) {
        const tag = i % 2 === 0 ? `keep-${i}` : `tmp-${i}`;
        const res = await dev.pushManifest(
          'race/app',
          tag,
          await image(dev, 'race/app', `race-${i}`),
          MANIFEST,
        );
        expect(res.status).toBe(201);
      }
    })();
    const collections = (async () => {
      for (let i = 0; i < 15; i++) {
        const res = await fetch(`${server.url}/api/v1/registry/gc`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: basic('admin') },
          body: JSON.stringify({}),
        });
        expect([200, 409]).toContain(res.status);
        const body = (await res.json()) as { tagsRemoved?: string[] };
        // Never one a rule keeps: keep-* by its expression.
        expect((body.tagsRemoved ?? []).filter((t) => t.includes(':keep-'))).toEqual([]);
      }
    })();
    await Promise.all([pushes, collections]);
    await gc({});
    const left = ((await (await dev.req('GET', '/v2/race/app/tags/list')).json()) as { tags: string[] }).tags;
    // Every keep-*, and the three newest of all (tmp-27, keep-28, tmp-29 among them).
    for (let i = 0; i < 30; i += 2) expect(left).toContain(`keep-${i}`);
    expect(left).toEqual(expect.arrayContaining(['tmp-27', 'keep-28', 'tmp-29']));
    expect(left.filter((t) => t.startsWith('tmp-')).sort()).toEqual(['tmp-27', 'tmp-29']);
    expect(cli(['policies', 'retention', 'remove', 'race/**']).status).toBe(0);
  });

  it('the ledger carries retention rules: export, a clean diff, apply of a changed one', () => {
    const exported = JSON.parse(cli(['ledger', 'export']).stdout) as { policies: { retention: unknown[] } };
    expect(exported.policies.retention).toEqual([
      { repositories: 'ret/**', keepLast: 2, keepTags: '^v', pulledWithinDays: 30, untaggedAfterDays: 0 },
    ]);
    const doc = documentWith(exported.policies);
    expect(cli(['ledger', 'diff', doc]).stdout.trim()).toBe('no differences');
    const changed = documentWith({
      ...exported.policies,
      retention: [{ repositories: 'ret/**', keepLast: 5 }],
    });
    const diff = cli(['ledger', 'diff', changed]);
    expect(diff.stdout).toContain(
      'policies: retention in ret/** keepLast=2 keepTags=^v pulledWithinDays=30 untaggedAfterDays=0 → keepLast=5',
    );
    expect(cli(['ledger', 'apply', changed, '--yes']).status).toBe(0);
    expect(cli(['ledger', 'diff', changed]).stdout.trim()).toBe('no differences');
    expect(cli(['policies', 'retention', 'remove', 'ret/**']).status).toBe(0);
    expect(cli(['policies', 'retention', 'set', 'ret/**']).status).toBe(64); // says nothing
  });

  it('the API replaces retention rules (admins only; bad rules refused)', async () => {
    const put = (auth: string | undefined, body: unknown) =>
      fetch(`${server.url}/api/v1/policies/retention`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
        body: JSON.stringify(body),
      });
    const rules = { rules: [{ repositories: 'ret/**', keepLast: 3 }] };
    expect((await put(undefined, rules)).status).toBe(401);
    expect((await put(basic('dev'), rules)).status).toBe(403);
    for (const bad of [
      { rules: [{ repositories: 'ret/**' }] },
      { rules: [{ repositories: 'ret/**', keepLast: -1 }] },
      { rules: [{ repositories: 'ret/**', keepTags: '(' }] },
      { rules: [{ repositories: 'ret/**', keepLast: 1, forever: true }] },
    ])
      expect((await put(basic('admin'), bad)).status, JSON.stringify(bad)).toBe(400);
    expect((await put(basic('admin'), rules)).status).toBe(200);
    const got = (await (
      await fetch(`${server.url}/api/v1/policies`, { headers: { authorization: basic('admin') } })
    ).json()) as { retention: unknown[] };
    expect(got.retention).toEqual([{ repositories: 'ret/**', keepLast: 3 }]);
    expect((await put(basic('admin'), { rules: [] })).status).toBe(200);
  });
});

describe('quotas', () => {
  const usage = async () =>
    (
      (await (
        await fetch(`${server.url}/api/v1/policies/quotas/usage`, {
          headers: { authorization: basic('admin') },
        })
      ).json()) as { quotas: { repositories: string; bytes: number; used: number }[] }
    ).quotas;

  it('a push past the quota is DENIED naming it; other namespaces still take pushes; a held blob counts once', async () => {
    const set = cli(['policies', 'quotas', 'set', 'quota/**', '4KiB']);
    expect(set.status, set.stderr).toBe(0);
    expect(set.stdout).toBe('quota/** may store 4096 bytes\n');
    const big = 'x'.repeat(1500);
    // 1500-byte layers: two fit (with their configs and manifests), the third does not.
    for (const [i, repo] of ['quota/a', 'quota/b'].entries()) {
      const layer = await dev.pushBlob(repo, `${big}${i}`);
      expect(layer).toMatch(/^sha256:/);
    }
    const before = (await usage()).find((q) => q.repositories === 'quota/**');
    expect(before?.used).toBe(3002);
    const refused = await dev.req('POST', `/v2/quota/b/blobs/uploads/?digest=${sha256(`${big}2`)}`, {
      body: `${big}2`,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(refused.status).toBe(403);
    const body = (await refused.json()) as { errors: { code: string; message: string }[] };
    expect(body.errors[0]?.code).toBe('DENIED');
    expect(body.errors[0]?.message).toContain(
      'the quota of quota/** is 4096 bytes; its repositories hold 3002',
    );
    // Nothing was linked: the blob is not in the repository.
    expect((await dev.req('HEAD', `/v2/quota/b/blobs/${sha256(`${big}2`)}`)).status).toBe(404);
    // A blob the namespace holds already: mounted into the other repository, no more bytes.
    const mounted = await dev.req(
      'POST',
      `/v2/quota/b/blobs/uploads/?mount=${sha256(`${big}0`)}&from=quota/a`,
    );
    expect(mounted.status).toBe(201);
    expect((await usage()).find((q) => q.repositories === 'quota/**')?.used).toBe(3002);
    // Another namespace: no limit.
    expect(await dev.pushBlob('free/app', `${big}${big}${big}`)).toMatch(/^sha256:/);
    const list = cli(['policies', 'list']);
    expect(list.stdout).toContain('quota  quota/**  4096 bytes (3002 used)');
    // And in /metrics (its first scrape here: nothing cached).
    const metrics = await (
      await fetch(`${server.url}/metrics`, { headers: { authorization: basic('admin') } })
    ).text();
    expect(metrics).toContain('opencloud_quota_limit_bytes{repositories="quota/**"} 4096');
    expect(metrics).toContain('opencloud_quota_used_bytes{repositories="quota/**"} 3002');
  });

  it('the ledger and the API carry quotas; bad ones are refused', async () => {
    const exported = JSON.parse(cli(['ledger', 'export']).stdout) as { policies: { quotas: unknown[] } };
    expect(exported.policies.quotas).toEqual([{ repositories: 'quota/**', bytes: 4096 }]);
    const bigger = documentWith({
      ...exported.policies,
      quotas: [{ repositories: 'quota/**', bytes: 1_000_000 }],
    });
    expect(cli(['ledger', 'diff', bigger]).stdout).toContain(
      'policies: quota of quota/** 4096 bytes → 1000000 bytes',
    );
    expect(cli(['ledger', 'apply', bigger, '--yes']).status).toBe(0);
    expect(await dev.pushBlob('quota/b', `${'x'.repeat(1500)}2`)).toMatch(/^sha256:/);
    const put = (auth: string | undefined, body: unknown) =>
      fetch(`${server.url}/api/v1/policies/quotas`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
        body: JSON.stringify(body),
      });
    const rules = { rules: [{ repositories: 'quota/**', bytes: 10 }] };
    expect((await put(undefined, rules)).status).toBe(401);
    expect((await put(basic('dev'), rules)).status).toBe(403);
    expect(
      (
        await fetch(`${server.url}/api/v1/policies/quotas/usage`, {
          headers: { authorization: basic('dev') },
        })
      ).status,
    ).toBe(403);
    for (const bad of [
      { rules: [{ repositories: 'quota/**', bytes: 0 }] },
      { rules: [{ repositories: 'quota/**', bytes: 1.5 }] },
      { rules: [{ repositories: 'quota/**' }] },
      {
        rules: [
          { repositories: 'a', bytes: 1 },
          { repositories: 'a', bytes: 2 },
        ],
      },
    ])
      expect((await put(basic('admin'), bad)).status, JSON.stringify(bad)).toBe(400);
    expect((await put(basic('admin'), { rules: [] })).status).toBe(200);
    expect(cli(['policies', 'quotas', 'set', 'x/*', 'lots']).status).toBe(64);
    expect(cli(['policies', 'quotas', 'remove', 'nothing/*']).status).toBe(64);
  });
});

describe('a document with all three policies, applied to a fresh instance', () => {
  const fresh = join(root, 'fresh');
  const freshCli = (args: string[]) =>
    spawnSync(process.execPath, [BIN, ...args, '--data-dir', fresh], { encoding: 'utf8' });
  const ALL = {
    retention: [{ repositories: 'all/**', keepLast: 1, keepTags: '^v' }],
    immutableTags: [{ repositories: 'all/**', tags: '^v[0-9]' }],
    quotas: [{ repositories: 'all/**', bytes: 6000 }],
  };

  it('each acts as it says, the dry run names what the real run deletes, and diff is clean after', async () => {
    const doc = documentWith(ALL);
    const applied = freshCli(['ledger', 'apply', doc, '--yes']);
    expect(applied.status, applied.stderr).toBe(0);
    // A receiver for the delete events retention sends.
    const received: { subject: string; data: { actor: string; tag: string } }[] = [];
    const receiver = createServer((req, res) => {
      let text = '';
      req.on('data', (d: Buffer) => (text += d.toString()));
      req.on('end', () => {
        received.push(JSON.parse(text) as (typeof received)[number]);
        res.end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const node = await startServe(['--listen', '127.0.0.1:0', '--data-dir', fresh], {
      env: { OPENCLOUD_WEBHOOKS_ALLOWED_HOSTS: '127.0.0.1' },
    });
    try {
      const hook = await fetch(`${node.url}/api/v1/webhooks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ url: receiverUrl, events: ['delete'] }),
      });
      expect(hook.status, await hook.clone().text()).toBe(201);
      const c = new RegistryClient(node.url);
      for (const tag of ['v1', 'old', 'new']) {
        expect(
          (await c.pushManifest('all/app', tag, await image(c, 'all/app', `all-${tag}`), MANIFEST)).status,
        ).toBe(201);
        await new Promise((r) => setTimeout(r, 5));
      }
      // Immutable: v1 neither moves nor goes.
      expect(
        (await c.pushManifest('all/app', 'v1', await image(c, 'all/app', 'all-v1b'), MANIFEST)).status,
      ).toBe(403);
      expect((await c.req('DELETE', '/v2/all/app/manifests/v1')).status).toBe(403);
      // Quota: a big layer does not fit here, and fits elsewhere.
      const big = 'q'.repeat(6000);
      const refused = await c.req('POST', `/v2/all/app/blobs/uploads/?digest=${sha256(big)}`, {
        body: big,
        headers: { 'content-type': 'application/octet-stream' },
      });
      expect(refused.status).toBe(403);
      expect(await c.pushBlob('elsewhere/app', big)).toBe(sha256(big));
      // Retention: the dry run names exactly what the real run deletes.
      const gc = async (dryRun: boolean) =>
        (await (
          await fetch(`${node.url}/api/v1/registry/gc`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ dryRun }),
          })
        ).json()) as { tagsRemoved: string[] };
      const preview = await gc(true);
      expect(preview.tagsRemoved).toEqual(['all/app:old']);
      expect((await gc(false)).tagsRemoved).toEqual(preview.tagsRemoved);
      const tags = ((await (await c.req('GET', '/v2/all/app/tags/list')).json()) as { tags: string[] }).tags;
      expect(tags.sort()).toEqual(['new', 'v1']);
      // The deletion went out as a delete event, by the retention policy.
      for (let i = 0; i < 100 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(received.map((e) => [e.subject, e.data.actor])).toEqual([['all/app:old', 'retention policy']]);
    } finally {
      node.child.kill('SIGTERM');
      await node.exited;
      receiver.close();
    }
    const diff = freshCli(['ledger', 'diff', doc]);
    expect(diff.stdout.trim()).toBe('no differences');
    expect(diff.status).toBe(0);
    expect(JSON.parse(freshCli(['policies', 'list', '--json']).stdout)).toEqual(ALL);
  });
});
