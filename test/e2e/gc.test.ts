// Garbage collection against a running server: a dry run reports exactly what the real run then
// reclaims, tagged content survives, and collection racing pushes never leaves a committed
// manifest without its blobs.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startServe, type ServeHandle } from '../support/cli.js';
import { RegistryClient, sha256 } from '../support/registry-client.js';

let server: ServeHandle;
let reg: RegistryClient;
const dataDir = mkdtempSync(join(tmpdir(), 'opencloud-gc-'));

beforeAll(async () => {
  // The schedule is off: this test decides when collection runs.
  server = await startServe(['--listen', '127.0.0.1:0', '--data-dir', dataDir], {
    env: { OPENCLOUD_GC_INTERVAL: '0' },
  });
  reg = new RegistryClient(server.url);
});
afterAll(async () => {
  server.child.kill('SIGTERM');
  await server.exited;
});

interface Report {
  dryRun: boolean;
  untaggedManifests: { repository: string; digest: string }[];
  blobs: { digest: string; size: number }[];
  bytesReclaimed: number;
  uploadsExpired: number;
  repositoriesRemoved: string[];
}

async function gcCli(...args: string[]): Promise<Report> {
  const r = await runCli(['gc', '--json', '--data-dir', dataDir, ...args], {
    env: { OPENCLOUD_LISTEN: server.url.replace('http://', '') },
  });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as Report;
}

async function pullable(repo: string, ref: string): Promise<boolean> {
  const res = await reg.req('GET', `/v2/${repo}/manifests/${ref}`);
  if (res.status !== 200) return false;
  const m = (await res.json()) as { config: { digest: string }; layers: { digest: string }[] };
  for (const d of [m.config.digest, ...m.layers.map((l) => l.digest)]) {
    const blob = await reg.req('GET', `/v2/${repo}/blobs/${d}`);
    if (blob.status !== 200 || sha256(Buffer.from(await blob.arrayBuffer())) !== d) return false;
  }
  return true;
}

describe('garbage collection', () => {
  it('a dry run reports exactly what the real run reclaims; tagged images stay whole', async () => {
    const kept = await reg.pushImage('gc/app', 'stable', {}, ['kept layer', 'shared layer']);
    const dropped = await reg.pushImage('gc/app', 'old', {}, ['dropped layer', 'shared layer']);
    expect((await reg.req('DELETE', '/v2/gc/app/manifests/old')).status).toBe(202); // untag
    const orphan = await reg.pushBlob('gc/app', 'never referenced');

    const dry = await gcCli('--dry-run', '--delete-untagged', '--grace-period', '0');
    expect(dry.dryRun).toBe(true);
    expect(dry.untaggedManifests.map((m) => m.digest)).toEqual([dropped.digest]);
    const dryDigests = dry.blobs.map((b) => b.digest).sort();
    expect(dryDigests).toEqual([dropped.digest, orphan, sha256('dropped layer')].sort());
    expect(await pullable('gc/app', 'stable')).toBe(true);
    expect((await reg.req('HEAD', `/v2/gc/app/blobs/${orphan}`)).status).toBe(200); // nothing changed yet

    const real = await gcCli('--delete-untagged', '--grace-period', '0');
    expect(real.dryRun).toBe(false);
    expect(real.blobs.map((b) => b.digest).sort()).toEqual(dryDigests);
    expect(real.bytesReclaimed).toBe(dry.bytesReclaimed);
    expect(real.bytesReclaimed).toBe(dropped.size + 'never referenced'.length + 'dropped layer'.length);

    expect(await pullable('gc/app', 'stable')).toBe(true);
    expect(await pullable('gc/app', kept.digest)).toBe(true);
    expect((await reg.req('GET', `/v2/gc/app/manifests/${dropped.digest}`)).status).toBe(404);
    expect((await reg.req('HEAD', `/v2/gc/app/blobs/${orphan}`)).status).toBe(404);
    expect((await gcCli('--delete-untagged', '--grace-period', '0')).blobs).toEqual([]);
  });

  it('a repository left empty goes once the grace period has passed since a push last touched it', async () => {
    const image = await reg.pushImage('gc/emptied', '1', {}, ['emptied layer']);
    expect((await reg.req('DELETE', `/v2/gc/emptied/manifests/${image.digest}`)).status).toBe(202);
    const loose = await reg.pushBlob('gc/unlinked', 'unlinked then emptied');
    expect((await reg.req('DELETE', `/v2/gc/unlinked/blobs/${loose}`)).status).toBe(202);
    const catalog = async () =>
      ((await (await reg.req('GET', '/v2/_catalog')).json()) as { repositories: string[] }).repositories;
    expect(await catalog()).toEqual(expect.arrayContaining(['gc/emptied', 'gc/unlinked']));

    // Both were touched by a push just now: within the grace period they stay, even empty.
    expect((await gcCli('--delete-untagged')).repositoriesRemoved).toEqual([]);
    const dry = await gcCli('--dry-run', '--delete-untagged', '--grace-period', '0');
    expect(dry.repositoriesRemoved).toEqual(['gc/emptied', 'gc/unlinked']);
    expect(await catalog()).toEqual(expect.arrayContaining(['gc/emptied', 'gc/unlinked']));
    const real = await gcCli('--delete-untagged', '--grace-period', '0');
    expect(real.repositoriesRemoved).toEqual(dry.repositoriesRemoved);
    expect(await catalog()).not.toEqual(expect.arrayContaining(['gc/emptied']));
    expect(await catalog()).not.toEqual(expect.arrayContaining(['gc/unlinked']));
    expect(await catalog()).toContain('gc/app'); // tagged content keeps its repository

    // The name is free again: a new push recreates it.
    await reg.pushImage('gc/emptied', '2', {}, ['second life']);
    expect(await pullable('gc/emptied', '2')).toBe(true);
  });

  it('within the grace period nothing new is collected', async () => {
    await reg.pushBlob('gc/grace', 'fresh and unreferenced');
    const report = await gcCli('--delete-untagged');
    expect(report.blobs.map((b) => b.digest)).not.toContain(sha256('fresh and unreferenced'));
  });

  it('racing pushes: collection deletes garbage meanwhile, and every push succeeds and stays whole', async () => {
    let stop = false;
    let runs = 0;
    let reclaimed = 0;
    const collector = (async () => {
      while (!stop && runs < 2000) {
        // A one-second grace period: far shorter than the default, longer than one push takes.
        const res = await reg.req('POST', '/api/v1/registry/gc', {
          body: JSON.stringify({ deleteUntagged: true, gracePeriod: 1 }),
          headers: { 'content-type': 'application/json' },
        });
        expect([200, 409]).toContain(res.status);
        if (res.status === 200) reclaimed += ((await res.json()) as Report).bytesReclaimed;
        else await res.arrayBuffer();
        runs++;
      }
    })();
    const kept: string[] = [];
    const push = async (tag: string) =>
      reg.pushImage('gc/race', tag, {}, [randomBytes(4096).toString('hex'), 'common layer']);
    await Promise.all([
      // Two pushers keep what they push...
      ...[0, 1].map(async (w) => {
        for (let i = 0; i < 15; i++) {
          await push(`keep-${w}-${i}`);
          kept.push(`keep-${w}-${i}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }),
      // ...while a third makes garbage: images it untags right away.
      (async () => {
        for (let i = 0; i < 15; i++) {
          await push(`drop-${i}`);
          expect((await reg.req('DELETE', `/v2/gc/race/manifests/drop-${i}`)).status).toBe(202);
          await new Promise((r) => setTimeout(r, 100));
        }
      })(),
    ]);
    await new Promise((r) => setTimeout(r, 1500)); // let the last garbage age past the grace period
    stop = true;
    await collector;
    const final = (await (
      await reg.req('POST', '/api/v1/registry/gc', {
        body: JSON.stringify({ deleteUntagged: true, gracePeriod: 1 }),
        headers: { 'content-type': 'application/json' },
      })
    ).json()) as Report;
    reclaimed += final.bytesReclaimed;
    console.log(
      `gc race: ${kept.length} images kept, ${runs} collection runs, ${reclaimed} bytes reclaimed meanwhile`,
    );
    expect(kept).toHaveLength(30);
    expect(runs).toBeGreaterThan(10);
    // The 15 dropped images' unique layers (8192 bytes each) and manifests were collected.
    expect(reclaimed).toBeGreaterThan(15 * 8192);
    for (const tag of kept) expect(await pullable('gc/race', tag), tag).toBe(true);
    const tags = (await (await reg.req('GET', '/v2/gc/race/tags/list')).json()) as { tags: string[] };
    expect(tags.tags.sort()).toEqual([...kept].sort());
  });
});
