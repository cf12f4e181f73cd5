// Immutable tags as code, against a real server with authentication on: a ledger document with an
// immutable-tags rule applied by `opencloud ledger apply`; a matching tag is pushed once, then a
// different manifest under it is DENIED naming the policy (the same manifest again is fine), and
// deleting it by tag or by digest is DENIED, for an admin too; tags the rule does not match move
// freely. Eight concurrent first pushes of one new fixed tag: exactly one wins. `ledger diff` of
// the document is clean afterwards; `policies immutable-tags set|remove` and the API change the
// rules (admins only: anonymous 401, a user 403, a bad rule or too many 400), and `ledger apply`
// refuses retention and quotas, which this version does not enforce.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
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

  it('ledger apply refuses retention and quotas, which this version does not enforce', () => {
    const r = cli([
      'ledger',
      'apply',
      documentWith({ ...RULES, quotas: [{ repositories: 'team/**', bytes: 1000 }] }),
      '--yes',
    ]);
    expect(r.status).toBe(65);
    expect(r.stderr).toContain('the document has quotas policies, which this version does not enforce yet');
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
