// One behaviour suite for the state layer, run against every backend (sqlite.test.ts,
// postgres.test.ts): the StateStore itself, the garbage collector's queries, the exclusive lock,
// and the stores that keep their own SQL over the same database (users and tokens, sessions,
// builds, webhooks and their queue, the ledger and the audit trail). Every test gets a database of
// its own from `make`; nothing is mocked.
import { randomBytes, randomUUID } from 'node:crypto';
import Fastify from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuthError, AuthStore } from '../auth/store.js';
import { Sessions } from '../auth/sessions.js';
import { BuildRecords } from '../build/records.js';
import type { BuildDefinition } from '../build/definition.js';
import { AuditTrail } from '../ledger/audit.js';
import { Ledger } from '../ledger/records.js';
import { Metrics } from '../metrics/metrics.js';
import { authContext } from '../server/registry-auth.js';
import { registrySummaryApi, type RegistrySummary } from '../server/registry-summary-api.js';
import type { OpenCloudEvent } from '../webhooks/events.js';
import { WebhookStore } from '../webhooks/store.js';
import { WebhookTargets } from '../webhooks/targets.js';
import {
  allManifests,
  allTagTargets,
  deleteBlobIfOrphan,
  deleteEmptyRepositories,
  manifestChildren,
  orphanBlobs,
  repositoryNames,
  unlinkUnreferenced,
  uploadsStartedBefore,
} from './gc-queries.js';
import {
  FixedTagError,
  MissingReferenceError,
  QuotaExceededError,
  type ManifestRecord,
  type StateStore,
} from './store.js';

/** Manifest number `n` of the read-cache tests (sqlite.test.ts, postgres.test.ts): a fixed digest per n. */
export const numberedManifest = (n: number) => ({
  digest: `sha256:${String(n).repeat(64).slice(0, 64)}`,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  artifactType: null,
  subjectDigest: null,
  annotations: null,
  size: 100 + n,
});

/** Points gen/app:latest at manifest `n`, through `state`. */
export async function tagLatest(state: StateStore, n: number): Promise<void> {
  const id = await state.ensureRepository('gen/app');
  const m = numberedManifest(n);
  await state.linkBlob(id, m.digest, m.size);
  await state.putManifest(id, m, [], ['latest']);
}

export interface ContractBackend {
  state: StateStore;
  /** Another StateStore on the same database, as a second registry node (or process) opens it. */
  openAnother: () => Promise<StateStore>;
  /** Closes what `make` and `openAnother` opened and removes the database. */
  cleanup: () => Promise<void>;
}

const digest = () => `sha256:${randomBytes(32).toString('hex')}`;
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const HOUR = 3600_000;
const iso = (offsetMs: number) => new Date(Date.now() + offsetMs).toISOString();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** JavaScript's default sort: UTF-16 code units, the same as byte order for ASCII. */
const byteOrder = (names: string[]) => [...names].sort();

function manifest(over: Partial<ManifestRecord> = {}): ManifestRecord {
  return {
    digest: digest(),
    mediaType: MANIFEST,
    artifactType: null,
    subjectDigest: null,
    annotations: null,
    size: 512,
    ...over,
  };
}

/** A deferred: a promise and the function that resolves it. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

export function describeStateStoreContract(name: string, make: () => Promise<ContractBackend>): void {
  describe(name, () => {
    let backend: ContractBackend;
    let state: StateStore;
    const extra: StateStore[] = [];
    const another = async () => {
      const s = await backend.openAnother();
      extra.push(s);
      return s;
    };

    beforeEach(async () => {
      backend = await make();
      state = backend.state;
    });
    afterEach(async () => {
      for (const s of extra.splice(0)) await s.close();
      await backend.cleanup();
    });

    /** A repository holding one blob and a manifest referencing it, tagged `tags`. */
    async function pushed(repo: string, tags: string[] = ['latest'], over: Partial<ManifestRecord> = {}) {
      const id = await state.ensureRepository(repo);
      const layer = digest();
      await state.linkBlob(id, layer, 1000);
      const m = manifest(over);
      await state.linkBlob(id, m.digest, m.size);
      await state.putManifest(id, m, [{ digest: layer, kind: 'blob' }], tags);
      return { id, layer, manifest: m };
    }

    describe('repositories', () => {
      it('ensureRepository creates once and returns the same id; repositoryId finds it', async () => {
        const a = await state.ensureRepository('team/app');
        const b = await state.ensureRepository('team/app');
        expect(typeof a).toBe('number');
        expect(b).toBe(a);
        expect(await state.repositoryId('team/app')).toBe(a);
        expect(await state.repositoryId('team/other')).toBeUndefined();
        expect(await state.ensureRepository('team/other')).not.toBe(a);
      });

      it('many parallel ensureRepository calls of one name end with one row and one id', async () => {
        const ids = await Promise.all(Array.from({ length: 24 }, () => state.ensureRepository('race/one')));
        const second = await another();
        const more = await Promise.all(Array.from({ length: 8 }, () => second.ensureRepository('race/one')));
        expect(new Set([...ids, ...more]).size).toBe(1);
        const rows = await state.db
          .selectFrom('repositories')
          .select('id')
          .where('name', '=', 'race/one')
          .execute();
        expect(rows).toHaveLength(1);
      });

      it('lists repositories in byte order, paginated with n and last', async () => {
        const names = [
          'zeta',
          'Alpha',
          'alpha',
          'alpha-1',
          'alpha_1',
          'alpha.1',
          'alpha1',
          'alpha/z',
          'b',
          'B',
        ];
        for (const n of names) await state.ensureRepository(n);
        expect(await state.listRepositories(100)).toEqual(byteOrder(names));
        const pages: string[][] = [];
        let last: string | undefined;
        for (;;) {
          const page = await state.listRepositories(3, last);
          if (page.length === 0) break;
          pages.push(page);
          last = page[page.length - 1];
        }
        expect(pages.map((p) => p.length)).toEqual([3, 3, 3, 1]);
        expect(pages.flat()).toEqual(byteOrder(names));
        expect(await state.listRepositories(2, 'alpha1')).toEqual(byteOrder(names).slice(7, 9));
      });

      it('marks a repository touched on every ensureRepository', async () => {
        await state.ensureRepository('touch/me');
        const first = await state.db
          .selectFrom('repositories')
          .select('touched_at')
          .executeTakeFirstOrThrow();
        await sleep(5);
        await state.ensureRepository('touch/me');
        const second = await state.db
          .selectFrom('repositories')
          .select('touched_at')
          .executeTakeFirstOrThrow();
        expect(second.touched_at! > first.touched_at!).toBe(true);
      });
    });

    describe('blobs', () => {
      it('links, finds by id and by name, and unlinks a blob; sizes beyond 32 bits are numbers', async () => {
        const id = await state.ensureRepository('blobs/a');
        const other = await state.ensureRepository('blobs/b');
        const d = digest();
        const big = 5 * 1024 ** 3 + 7;
        await state.linkBlob(id, d, big);
        expect(await state.repositoryBlob(id, d)).toBe(big);
        expect(typeof (await state.repositoryBlob(id, d))).toBe('number');
        expect(await state.repositoryBlobByName('blobs/a', d)).toBe(big);
        expect(await state.repositoryBlobByName('blobs/b', d)).toBeUndefined();
        expect(await state.repositoryBlob(other, d)).toBeUndefined();
        expect(await state.linkedBlobSize(d)).toBe(big);
        expect(await state.unlinkBlob(id, d)).toBe(true);
        expect(await state.unlinkBlob(id, d)).toBe(false);
        expect(await state.repositoryBlob(id, d)).toBeUndefined();
        expect(await state.linkedBlobSize(d)).toBeUndefined();
      });

      it('recordBlob keeps an existing size; linkBlob makes the verified size authoritative', async () => {
        const id = await state.ensureRepository('blobs/size');
        const d = digest();
        await state.recordBlob(d, 10);
        await state.recordBlob(d, 20);
        const row = await state.db
          .selectFrom('blobs')
          .select('size')
          .where('digest', '=', d)
          .executeTakeFirstOrThrow();
        expect(row.size).toBe(10);
        await state.linkBlob(id, d, 30);
        expect(await state.repositoryBlob(id, d)).toBe(30);
        // A re-link restarts the link's grace period.
        const before = await state.db
          .selectFrom('repository_blobs')
          .select('created_at')
          .executeTakeFirstOrThrow();
        await sleep(5);
        await state.linkBlob(id, d, 30);
        const after = await state.db
          .selectFrom('repository_blobs')
          .select('created_at')
          .executeTakeFirstOrThrow();
        expect(after.created_at > before.created_at).toBe(true);
      });
    });

    describe('uploads', () => {
      it('creates, reads and deletes upload session rows', async () => {
        const id = await state.ensureRepository('up/a');
        const uid = randomUUID();
        await state.createUpload(uid, id);
        const row = await state.upload(uid);
        expect(row?.repositoryId).toBe(id);
        expect(Date.parse(row!.startedAt)).toBeGreaterThan(Date.now() - HOUR);
        expect(await state.upload('nope')).toBeUndefined();
        await state.deleteUpload(uid);
        expect(await state.upload(uid)).toBeUndefined();
      });

      it('refuses an upload for a repository that does not exist (foreign key)', async () => {
        await expect(state.createUpload(randomUUID(), 987654)).rejects.toThrow();
      });

      it('counts open sessions per repository and per opener, expired ones not, across nodes', async () => {
        const a = await state.ensureRepository('up/count-a');
        const b = await state.ensureRepository('up/count-b');
        const other = await another();
        await Promise.all([
          ...Array.from({ length: 3 }, () => state.createUpload(randomUUID(), a, 'user:ann')),
          ...Array.from({ length: 2 }, () => other.createUpload(randomUUID(), b, 'user:ann')),
          other.createUpload(randomUUID(), a, 'address:192.0.2.1'),
          state.createUpload(randomUUID(), a),
        ]);
        const old = randomUUID();
        await state.createUpload(old, a, 'user:ann');
        await state.db
          .updateTable('uploads')
          .set({ started_at: iso(-2 * HOUR) })
          .where('id', '=', old)
          .execute();
        expect(await state.openUploads(a, 'user:ann', iso(-HOUR))).toEqual({ repository: 5, opener: 5 });
        expect(await other.openUploads(b, 'address:192.0.2.1', iso(-HOUR))).toEqual({
          repository: 2,
          opener: 1,
        });
        expect(await state.openUploads(a, 'user:nobody', iso(-3 * HOUR))).toEqual({
          repository: 6,
          opener: 0,
        });
        await state.deleteUpload(old);
        expect(await state.openUploads(a, 'user:ann', iso(-3 * HOUR))).toEqual({ repository: 5, opener: 5 });
      });

      it('records sessions only within the limits, also when two nodes record them at once', async () => {
        const a = await state.ensureRepository('up/limited');
        const other = await another();
        const since = iso(-HOUR);
        const within = (node: StateStore, opener: string, perRepository: number, perOpener: number) =>
          node.createUploadWithin(randomUUID(), a, opener, { perRepository, perOpener, since });
        const ann = await Promise.all(
          Array.from({ length: 20 }, (_, i) => within(i % 2 ? other : state, 'user:ann', 0, 5)),
        );
        expect(ann.filter((r) => r.created)).toHaveLength(5);
        expect(ann.filter((r) => !r.created).every((r) => !r.created && r.open.opener === 5)).toBe(true);
        const ben = await Promise.all(
          Array.from({ length: 10 }, (_, i) => within(i % 2 ? other : state, 'user:ben', 7, 5)),
        );
        expect(ben.filter((r) => r.created)).toHaveLength(2);
        expect(await state.openUploads(a, 'user:ben', since)).toEqual({ repository: 7, opener: 2 });
      });
    });

    describe('manifests and tags', () => {
      it('records a manifest with its references and tags in one transaction', async () => {
        const {
          id,
          layer,
          manifest: m,
        } = await pushed('m/a', ['v1', 'latest'], {
          annotations: { 'org.opencontainers.image.title': 'ü and "quotes"' },
          size: 3 * 1024 ** 3,
        });
        const got = await state.manifest(id, m.digest);
        expect(got).toEqual({ ...m, annotations: { 'org.opencontainers.image.title': 'ü and "quotes"' } });
        expect(typeof got?.size).toBe('number');
        expect(await state.resolveTag(id, 'v1')).toBe(m.digest);
        expect(await state.resolveTag(id, 'latest')).toBe(m.digest);
        expect(await state.resolveTag(id, 'V1')).toBeUndefined();
        const refs = await state.db
          .selectFrom('manifest_references')
          .select(['child_digest', 'kind'])
          .where('manifest_digest', '=', m.digest)
          .execute();
        expect(refs).toEqual([{ child_digest: layer, kind: 'blob' }]);
      });

      it('refuses a manifest over a missing reference and records none of it', async () => {
        const id = await state.ensureRepository('m/missing');
        const m = manifest();
        const gone = digest();
        const err = await state
          .putManifest(id, m, [{ digest: gone, kind: 'blob' }], ['t'])
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(MissingReferenceError);
        expect((err as MissingReferenceError).reference).toEqual({ digest: gone, kind: 'blob' });
        expect(await state.manifest(id, m.digest)).toBeUndefined();
        expect(await state.resolveTag(id, 't')).toBeUndefined();
        const missingChild = await state
          .putManifest(id, m, [{ digest: digest(), kind: 'manifest' }])
          .catch((e: unknown) => e);
        expect(missingChild).toBeInstanceOf(MissingReferenceError);
        // Without verification (a trusted import) the rows go in as given.
        await state.putManifest(id, m, [{ digest: gone, kind: 'blob' }], ['t'], false);
        expect(await state.resolveTag(id, 't')).toBe(m.digest);
      });

      it('a re-push is idempotent; a tag moves to the newest manifest', async () => {
        const { id, layer, manifest: first } = await pushed('m/move', ['latest']);
        await state.putManifest(id, first, [{ digest: layer, kind: 'blob' }], ['latest', 'latest']);
        const second = manifest();
        await state.linkBlob(id, second.digest, second.size);
        await state.putManifest(id, second, [{ digest: layer, kind: 'blob' }], ['latest', 'stable']);
        expect(await state.resolveTag(id, 'latest')).toBe(second.digest);
        expect(await state.resolveTag(id, 'stable')).toBe(second.digest);
        expect(await state.manifest(id, first.digest)).toBeDefined();
        const tags = await state.db
          .selectFrom('tags')
          .select('name')
          .where('repository_id', '=', id)
          .execute();
        expect(tags.map((t) => t.name).sort()).toEqual(['latest', 'stable']);
      });

      it('pushes tagging the same names in opposite orders at once all succeed', async () => {
        const { id, layer } = await pushed('m/concurrent', []);
        const names = ['a', 'b', 'c', 'd', 'e'];
        await Promise.all(
          Array.from({ length: 8 }, async (_, i) => {
            const m = manifest();
            await state.linkBlob(id, m.digest, m.size);
            await state.putManifest(
              id,
              m,
              [{ digest: layer, kind: 'blob' }],
              i % 2 ? names : [...names].reverse(),
            );
          }),
        );
        const tags = await state.listTags(id, 100);
        expect(tags).toEqual(names);
        const targets = new Set(await Promise.all(names.map((n) => state.resolveTag(id, n))));
        expect(targets.size).toBeGreaterThanOrEqual(1);
      });

      it('lists tags in byte order with n/last pagination, per repository', async () => {
        const names = ['latest', 'v1.0', 'V2', '1.0', 'a-b', 'a_b', 'ab', 'A', 'a.b', 'Z9', '_x'];
        const { id } = await pushed('tags/a', names);
        await pushed('tags/b', ['other', 'aa']);
        expect(await state.listTags(id, 100)).toEqual(byteOrder(names));
        const seen: string[] = [];
        let last: string | undefined;
        for (let i = 0; i < 10; i++) {
          const page = await state.listTags(id, 4, last);
          if (page.length === 0) break;
          expect(page.length).toBeLessThanOrEqual(4);
          seen.push(...page);
          last = page[page.length - 1];
        }
        expect(seen).toEqual(byteOrder(names));
        expect(await state.listTags(id, 2, 'Z9')).toEqual(
          byteOrder(names)
            .filter((n) => n > 'Z9')
            .slice(0, 2),
        );
        expect(await state.listTags(id, 5, 'v1.0')).toEqual([]);
      });

      it('deletes a tag, then the manifest with its references and remaining tags', async () => {
        const { id, manifest: m } = await pushed('del/a', ['one', 'two']);
        expect(await state.deleteTag(id, 'one')).toBe(true);
        expect(await state.deleteTag(id, 'one')).toBe(false);
        expect(await state.resolveTag(id, 'one')).toBeUndefined();
        expect(await state.deleteManifest(id, m.digest)).toBe(true);
        expect(await state.deleteManifest(id, m.digest)).toBe(false);
        expect(await state.manifest(id, m.digest)).toBeUndefined();
        expect(await state.resolveTag(id, 'two')).toBeUndefined();
        const refs = await state.db
          .selectFrom('manifest_references')
          .select('child_digest')
          .where('manifest_digest', '=', m.digest)
          .execute();
        expect(refs).toEqual([]);
      });

      it('reads a manifest by tag or digest in one statement, seeing every push and delete at once', async () => {
        const {
          id,
          layer,
          manifest: first,
        } = await pushed('reads/a', ['latest'], {
          annotations: { a: 'b' },
        });
        await pushed('reads/b', ['other']);
        const r = state.reads;
        expect(await r.manifestByTag('reads/a', 'latest')).toEqual({ ...first, annotations: { a: 'b' } });
        expect(await r.manifestByDigest('reads/a', first.digest)).toEqual({
          ...first,
          annotations: { a: 'b' },
        });
        // Another repository's tag or manifest, an unknown repository, a tag in other case: nothing.
        expect(await r.manifestByTag('reads/a', 'other')).toBeUndefined();
        expect(await r.manifestByDigest('reads/b', first.digest)).toBeUndefined();
        expect(await r.manifestByTag('reads/none', 'latest')).toBeUndefined();
        expect(await r.manifestByTag('reads/a', 'LATEST')).toBeUndefined();
        // A tag moved by a push is read moved at once; a deleted manifest is gone at once.
        const second = manifest();
        await state.linkBlob(id, second.digest, second.size);
        await state.putManifest(id, second, [{ digest: layer, kind: 'blob' }], ['latest']);
        expect((await r.manifestByTag('reads/a', 'latest'))?.digest).toBe(second.digest);
        expect(await state.deleteManifest(id, second.digest)).toBe(true);
        expect(await r.manifestByTag('reads/a', 'latest')).toBeUndefined();
        expect(await r.manifestByDigest('reads/a', second.digest)).toBeUndefined();
        expect(await r.blobSizeInRepository('reads/a', layer)).toBeTypeOf('number');
        expect(await r.blobSizeInRepository('reads/b', first.digest)).toBeUndefined();
      });

      it('deleting a repository row cascades to its links, manifests, tags and uploads', async () => {
        const { id } = await pushed('cascade/a', ['x']);
        await state.createUpload(randomUUID(), id);
        const keep = await pushed('cascade/b', ['y']);
        await state.db.deleteFrom('repositories').where('id', '=', id).execute();
        for (const table of ['repository_blobs', 'manifests', 'tags', 'uploads'] as const) {
          const rows = await state.db
            .selectFrom(table)
            .select('repository_id')
            .where('repository_id', '=', id)
            .execute();
          expect(rows, table).toEqual([]);
        }
        expect(await state.resolveTag(keep.id, 'y')).toBe(keep.manifest.digest);
      });
    });

    describe('quotas', () => {
      it('concurrent links into one namespace stop at its quota; a blob already there counts once', async () => {
        const a = await state.ensureRepository('quota/a');
        const b = await state.ensureRepository('quota/b');
        const quota = { key: 'quota/**', repositoryIds: [a, b], bytes: 5000 };
        const digests = Array.from({ length: 12 }, () => digest());
        const results = await Promise.allSettled(
          digests.map((d, i) => state.linkBlob(i % 2 ? a : b, d, 1000, [quota])),
        );
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
        for (const r of results)
          if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(QuotaExceededError);
        expect(await state.namespaceBytes([a, b])).toBe(5000);
        // A blob the namespace holds already adds nothing: linked into the other repository too.
        const held = digests[results.findIndex((r) => r.status === 'fulfilled')] as string;
        await state.linkBlob(a, held, 1000, [quota]);
        await state.linkBlob(b, held, 1000, [quota]);
        expect(await state.namespaceBytes([a, b])).toBe(5000);
        // Outside the namespace: no limit.
        await state.linkBlob(await state.ensureRepository('free/x'), digest(), 10_000, []);
      });
    });

    describe('fixed tags (immutable by policy)', () => {
      it('concurrent first pushes of a fixed tag: exactly one creates it, the rest fail and record nothing', async () => {
        const id = await state.ensureRepository('fixed/app');
        const layer = digest();
        await state.linkBlob(id, layer, 10);
        const manifests = Array.from({ length: 8 }, () => manifest());
        for (const m of manifests) await state.linkBlob(id, m.digest, m.size);
        const results = await Promise.allSettled(
          manifests.map((m) =>
            state.putManifest(id, m, [{ digest: layer, kind: 'blob' }], ['v1'], true, new Set(['v1'])),
          ),
        );
        const won = results.findIndex((r) => r.status === 'fulfilled');
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(FixedTagError);
        expect(await state.resolveTag(id, 'v1')).toBe(manifests[won]?.digest);
        // The losers' manifests were rolled back with their tag.
        for (const [i, m] of manifests.entries())
          expect(await state.manifest(id, m.digest), String(i)).toEqual(
            i === won ? expect.anything() : undefined,
          );
        // The same manifest again is no move; an unfixed tag still moves.
        await state.putManifest(id, manifests[won] as ManifestRecord, [], ['v1'], false, new Set(['v1']));
        await state.putManifest(id, manifests[(won + 1) % 8] as ManifestRecord, [], ['v1'], false);
        expect(await state.resolveTag(id, 'v1')).toBe(manifests[(won + 1) % 8]?.digest);
      });
    });

    describe('repository details', () => {
      it('lists each repository with its tag count, bytes (each blob once) and last push', async () => {
        const before = new Map((await state.repositoryDetails()).map((r) => [r.name, r]));
        expect(before.has('rd/app')).toBe(false);
        const { id } = await pushed('rd/app', ['1', '2']);
        await sleep(3);
        await pushed('rd/app', ['3']);
        await state.ensureRepository('rd/empty');
        const byName = new Map((await state.repositoryDetails()).map((r) => [r.name, r]));
        // Two pushes: each a 1000-byte layer and a 512-byte manifest, all linked into rd/app.
        expect(byName.get('rd/app')).toMatchObject({ name: 'rd/app', tags: 3, size: 2 * (1000 + 512) });
        const latest = (await state.tagDetails(id))
          .map((t) => t.pushedAt)
          .sort()
          .at(-1);
        expect(byName.get('rd/app')?.pushedAt).toBe(latest);
        expect(byName.get('rd/empty')).toEqual({ name: 'rd/empty', tags: 0, size: 0, pushedAt: null });
      });
    });

    describe('tag details', () => {
      it("lists each tag with its manifest, push time, bytes (an index: its children's) and referrers by type", async () => {
        const { id, manifest: image } = await pushed('td/app', ['v1', 'latest']);
        const kids: string[] = [];
        for (const bytes of [2000, 3000]) {
          const layer = digest();
          const config = digest();
          await state.linkBlob(id, layer, bytes);
          await state.linkBlob(id, config, 10);
          const m = manifest();
          await state.linkBlob(id, m.digest, m.size);
          await state.putManifest(id, m, [
            { digest: config, kind: 'blob' },
            { digest: layer, kind: 'blob' },
          ]);
          kids.push(m.digest);
        }
        const index = manifest({ mediaType: 'application/vnd.oci.image.index.v1+json', size: 300 });
        await state.linkBlob(id, index.digest, index.size);
        await state.putManifest(
          id,
          index,
          kids.map((d) => ({ digest: d, kind: 'manifest' as const })),
          ['multi'],
        );
        for (const artifactType of ['application/vnd.sig', 'application/vnd.sig', 'application/vnd.sbom']) {
          const r = manifest({ subjectDigest: image.digest, artifactType });
          await state.linkBlob(id, r.digest, r.size);
          await state.putManifest(id, r, []);
        }
        const byName = Object.fromEntries((await state.tagDetails(id)).map((d) => [d.name, d]));
        expect(Object.keys(byName).sort()).toEqual(['latest', 'multi', 'v1']);
        expect(byName.v1).toMatchObject({
          digest: image.digest,
          mediaType: MANIFEST,
          size: 1000,
          manifestSize: 512,
          referrers: [
            { artifactType: 'application/vnd.sbom', count: 1 },
            { artifactType: 'application/vnd.sig', count: 2 },
          ],
        });
        expect(byName.v1?.children).toBeUndefined();
        expect(Date.parse(byName.v1?.pushedAt as string)).toBeGreaterThan(Date.now() - 60_000);
        expect(byName.multi).toMatchObject({
          digest: index.digest,
          size: 5020,
          manifestSize: 300,
          referrers: [],
        });
        expect(byName.multi?.children?.sort((a, b) => a.size - b.size)).toEqual([
          { digest: kids[0], size: 2010 },
          { digest: kids[1], size: 3010 },
        ]);
        expect(await state.tagDetails(await state.ensureRepository('td/empty'))).toEqual([]);

        // One tag, or the tags of one manifest: the same rows as in the whole list.
        const all = await state.tagDetails(id);
        expect(await state.tagDetails(id, { tag: 'multi' })).toEqual(all.filter((t) => t.name === 'multi'));
        const onImage = await state.tagDetails(id, { digest: image.digest });
        expect(onImage.map((t) => t.name).sort()).toEqual(['latest', 'v1']);
        expect(onImage.find((t) => t.name === 'v1')).toEqual(byName.v1);
        expect(await state.tagDetails(id, { tag: 'nope' })).toEqual([]);
      });

      it('keeps the latest pull time per manifest, skips manifests gone since, and forgets a deleted one', async () => {
        const { id, manifest: image } = await pushed('td/pulls', ['a', 'b']);
        const other = await pushed('td/pulls', ['c']);
        expect((await state.tagDetails(id)).map((t) => t.pulledAt)).toEqual([null, null, null]);
        await state.recordPulls([
          { repository: 'td/pulls', digest: image.digest, at: '2026-01-02T00:00:00.000Z' },
          { repository: 'td/pulls', digest: 'sha256:' + 'f'.repeat(64), at: '2026-01-02T00:00:00.000Z' },
          { repository: 'td/nothing-here', digest: image.digest, at: '2026-01-02T00:00:00.000Z' },
        ]);
        // An older time written later (another node's batch) does not move it back; a newer one does.
        await state.recordPulls([
          { repository: 'td/pulls', digest: image.digest, at: '2026-01-01T00:00:00.000Z' },
        ]);
        let at = Object.fromEntries((await state.tagDetails(id)).map((t) => [t.name, t.pulledAt]));
        expect(at).toEqual({ a: '2026-01-02T00:00:00.000Z', b: '2026-01-02T00:00:00.000Z', c: null });
        await state.recordPulls([
          { repository: 'td/pulls', digest: image.digest, at: '2026-01-03T00:00:00.000Z' },
          { repository: 'td/pulls', digest: other.manifest.digest, at: '2026-01-04T00:00:00.000Z' },
        ]);
        at = Object.fromEntries((await state.tagDetails(id)).map((t) => [t.name, t.pulledAt]));
        expect(at).toEqual({
          a: '2026-01-03T00:00:00.000Z',
          b: '2026-01-03T00:00:00.000Z',
          c: '2026-01-04T00:00:00.000Z',
        });
        // Deleted and pushed again: a new manifest row, never pulled.
        await state.deleteManifest(id, image.digest);
        await state.putManifest(id, image, [], ['a']);
        expect((await state.tagDetails(id, { tag: 'a' }))[0]?.pulledAt).toBeNull();
      });
    });

    describe('referrers', () => {
      it('lists manifests whose subject is a digest, oldest first, optionally of one artifact type', async () => {
        const { id, layer, manifest: subject } = await pushed('ref/a', ['latest']);
        const made: ManifestRecord[] = [];
        for (const artifactType of [
          'application/vnd.sbom',
          'application/vnd.sig',
          'application/vnd.sbom',
          null,
        ]) {
          const m = manifest({
            subjectDigest: subject.digest,
            artifactType,
            annotations: { n: String(made.length) },
          });
          await state.linkBlob(id, m.digest, m.size);
          await state.putManifest(id, m, [{ digest: layer, kind: 'blob' }]);
          made.push(m);
          await sleep(3);
        }
        const other = await pushed('ref/b', ['latest']);
        const foreign = manifest({ subjectDigest: subject.digest, artifactType: 'application/vnd.sbom' });
        await state.putManifest(other.id, foreign, [], [], false);

        expect(await state.referrers(id, subject.digest)).toEqual(made);
        expect(await state.referrers(id, subject.digest, 'application/vnd.sbom')).toEqual([made[0], made[2]]);
        expect(await state.referrers(id, subject.digest, 'application/vnd.SBOM')).toEqual([]);
        expect(await state.referrers(id, digest())).toEqual([]);
      });
    });

    describe('garbage collection queries', () => {
      it('reads every manifest, tag target and manifest child', async () => {
        const a = await pushed('gc/a', ['t1']);
        const index = manifest({ mediaType: 'application/vnd.oci.image.index.v1+json', size: 6 * 1024 ** 3 });
        await state.putManifest(a.id, index, [{ digest: a.manifest.digest, kind: 'manifest' }], ['multi']);
        const manifests = await allManifests(state.db);
        expect(manifests.map((m) => m.digest).sort()).toEqual([a.manifest.digest, index.digest].sort());
        const big = manifests.find((m) => m.digest === index.digest)!;
        expect(big.size).toBe(6 * 1024 ** 3);
        expect(big.repositoryId).toBe(a.id);
        expect((await allTagTargets(state.db)).sort((x, y) => x.digest.localeCompare(y.digest))).toEqual(
          [
            { repositoryId: a.id, digest: a.manifest.digest },
            { repositoryId: a.id, digest: index.digest },
          ].sort((x, y) => x.digest.localeCompare(y.digest)),
        );
        expect(await manifestChildren(state.db)).toEqual([
          { repositoryId: a.id, parent: index.digest, child: a.manifest.digest },
        ]);
        expect(await repositoryNames(state.db)).toEqual(new Map([[a.id, 'gc/a']]));
      });

      it('unlinks only unreferenced links older than the cutoff, then finds and deletes orphan blobs', async () => {
        const a = await pushed('gc/links', ['t']);
        const loose = digest();
        await state.linkBlob(a.id, loose, 77);
        // Linked now: a cutoff an hour ago protects it.
        expect(await unlinkUnreferenced(state.db, iso(-HOUR))).toBe(0);
        // A cutoff in the future: the loose link goes; the layer (referenced) and the manifest's
        // own blob (a manifest is stored under it) stay.
        expect(await unlinkUnreferenced(state.db, iso(HOUR))).toBe(1);
        expect(await state.repositoryBlob(a.id, loose)).toBeUndefined();
        expect(await state.repositoryBlob(a.id, a.layer)).toBe(1000);
        expect(await state.repositoryBlob(a.id, a.manifest.digest)).toBe(a.manifest.size);

        const recorded = digest();
        await state.recordBlob(recorded, 5);
        const orphans = await orphanBlobs(state.db);
        expect(orphans).toEqual(
          [
            { digest: loose, size: 77 },
            { digest: recorded, size: 5 },
          ].sort((x, y) => (x.digest < y.digest ? -1 : 1)),
        );
        // Linked again meanwhile: not deleted.
        await state.linkBlob(a.id, loose, 77);
        expect(await deleteBlobIfOrphan(state.db, loose)).toBe(false);
        expect(await deleteBlobIfOrphan(state.db, recorded)).toBe(true);
        expect(await deleteBlobIfOrphan(state.db, recorded)).toBe(false);
        expect(await orphanBlobs(state.db)).toEqual([]);
      });

      it('deletes empty, untouched repositories only, inside a transaction', async () => {
        await state.ensureRepository('empty/b');
        await state.ensureRepository('empty/a');
        await pushed('full/tagged', ['t']);
        const uploading = await state.ensureRepository('full/uploading');
        await state.createUpload(randomUUID(), uploading);
        expect(await deleteEmptyRepositories(state.db, iso(-HOUR))).toEqual([]);
        const removed = await state.db
          .transaction()
          .execute((trx) => deleteEmptyRepositories(trx, iso(HOUR)));
        expect(removed).toEqual(['empty/a', 'empty/b']);
        expect(await state.listRepositories(10)).toEqual(['full/tagged', 'full/uploading']);
      });

      it('finds upload sessions started before a cutoff', async () => {
        const id = await state.ensureRepository('gc/uploads');
        const uid = randomUUID();
        await state.createUpload(uid, id);
        expect(await uploadsStartedBefore(state.db, iso(-HOUR))).toEqual([]);
        expect(await uploadsStartedBefore(state.db, iso(HOUR))).toEqual([uid]);
      });

      it('a push racing a collection never records a manifest over a link the collection removed', async () => {
        const id = await state.ensureRepository('gc/race');
        const layer = digest();
        await state.linkBlob(id, layer, 10);
        const collecting = gate();
        const finish = gate();
        const collection = state.db.transaction().execute(async (trx) => {
          const removed = await unlinkUnreferenced(trx, iso(HOUR));
          collecting.open();
          await finish.promise;
          return removed;
        });
        await collecting.promise;
        // The push checks its references while the collection has unlinked the layer but not yet
        // committed: it must wait for the collection and then see the link gone.
        const m = manifest();
        const push = state.putManifest(id, m, [{ digest: layer, kind: 'blob' }], ['latest']).then(
          () => 'recorded',
          (err: unknown) => err,
        );
        await sleep(300);
        finish.open();
        expect(await collection).toBe(1);
        expect(await push).toBeInstanceOf(MissingReferenceError);
        // The invariant: every blob a manifest references is linked in its repository.
        const dangling = await state.db
          .selectFrom('manifest_references as mr')
          .leftJoin('repository_blobs as rb', (j) =>
            j.onRef('rb.repository_id', '=', 'mr.repository_id').onRef('rb.digest', '=', 'mr.child_digest'),
          )
          .select('mr.child_digest')
          .where('mr.kind', '=', 'blob')
          .where('rb.digest', 'is', null)
          .execute();
        expect(dangling).toEqual([]);
        expect(await state.manifest(id, m.digest)).toBeUndefined();
      });

      it('rolls a collection transaction back whole on error', async () => {
        await state.ensureRepository('rollback/a');
        await expect(
          state.db.transaction().execute(async (trx) => {
            expect(await deleteEmptyRepositories(trx, iso(HOUR))).toEqual(['rollback/a']);
            throw new Error('dry run');
          }),
        ).rejects.toThrow('dry run');
        expect(await state.repositoryId('rollback/a')).toBeDefined();
      });
    });

    describe('exclusive lock', () => {
      it('runs fn under the lock, refuses a second holder, frees it afterwards', async () => {
        const held = gate();
        const entered = gate();
        const first = state.withExclusiveLock('gc', async () => {
          entered.open();
          await held.promise;
          return 'first';
        });
        await entered.promise;
        let ran = false;
        expect(await state.withExclusiveLock('gc', async () => (ran = true))).toBeUndefined();
        expect(ran).toBe(false);
        // Another name is another lock.
        expect(await state.withExclusiveLock('other', async () => 42)).toBe(42);
        // Another node (or process) on the same database is refused too.
        const second = await another();
        expect(await second.withExclusiveLock('gc', async () => 'second')).toBeUndefined();
        held.open();
        expect(await first).toBe('first');
        expect(await second.withExclusiveLock('gc', async () => 'second')).toBe('second');
        expect(await state.withExclusiveLock('gc', async () => 'again')).toBe('again');
      });

      it('frees the lock when fn throws', async () => {
        await expect(
          state.withExclusiveLock('gc', async () => {
            throw new Error('boom');
          }),
        ).rejects.toThrow('boom');
        expect(await state.withExclusiveLock('gc', async () => 'ok')).toBe('ok');
      });

      it('of many simultaneous callers on two nodes, exactly one runs', async () => {
        const second = await another();
        const release = gate();
        let runs = 0;
        const calls = Array.from({ length: 10 }, (_, i) =>
          (i % 2 ? second : state).withExclusiveLock('race', async () => {
            runs++;
            await release.promise;
            return i;
          }),
        );
        await sleep(200);
        release.open();
        const results = await Promise.all(calls);
        expect(runs).toBe(1);
        expect(results.filter((r) => r !== undefined)).toHaveLength(1);
      });

      it('takes over a lock whose holder stopped renewing it (SQLite lock rows)', async () => {
        if (state.dialect !== 'sqlite') return;
        await state.db
          .insertInto('locks')
          .values({ name: 'gc', owner: 'dead-process', acquired_at: iso(-2 * HOUR), expires_at: iso(-HOUR) })
          .execute();
        await state.db
          .insertInto('locks')
          .values({ name: 'live', owner: 'live-process', acquired_at: iso(0), expires_at: iso(HOUR) })
          .execute();
        expect(await state.withExclusiveLock('gc', async () => 'taken')).toBe('taken');
        expect(await state.withExclusiveLock('live', async () => 'taken')).toBeUndefined();
        const rows = await state.db.selectFrom('locks').select('name').execute();
        expect(rows).toEqual([{ name: 'live' }]);
      });
    });

    describe('users, tokens and sessions', () => {
      it('adds users once (even when added at the same time), counts and lists them in byte order', async () => {
        const auth = new AuthStore(state);
        expect(await auth.userCount()).toBe(0);
        await auth.addUser('bob', 'password-1', false);
        await auth.addUser('alice', 'password-2', true);
        await auth.addUser('al-b', 'password-3', false);
        await expect(auth.addUser('bob', 'password-x', false)).rejects.toThrow(AuthError);
        const results = await Promise.allSettled(
          Array.from({ length: 4 }, () => new AuthStore(state).addUser('carol', 'password-4', false)),
        );
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(AuthError);
        expect(await auth.userCount()).toBe(4);
        expect(typeof (await auth.userCount())).toBe('number');
        const users = await auth.listUsers();
        expect(users.map((u) => [u.name, u.admin])).toEqual([
          ['al-b', false],
          ['alice', true],
          ['bob', false],
          ['carol', false],
        ]);
        expect(await auth.checkPassword('alice', 'password-2')).toMatchObject({ name: 'alice', admin: true });
        expect(await auth.checkPassword('alice', 'wrong-password')).toBeUndefined();
      });

      it('grants, issues, checks, revokes tokens; deleting a user removes its grants and tokens', async () => {
        const auth = new AuthStore(state);
        await auth.addUser('dev', 'password-1', false);
        await auth.grant('dev', 'team/**', ['pull', 'push']);
        await auth.grant('anonymous', 'public/*', ['pull']);
        expect(await auth.grantsFor(['user:dev', 'anonymous'])).toEqual([
          { pattern: 'public/*', actions: ['pull'] },
          { pattern: 'team/**', actions: ['pull', 'push'] },
        ]);
        await auth.grant('dev', 'team/**', []);
        expect(await auth.grantsFor(['user:dev'])).toEqual([]);
        await auth.grant('dev', 'team/**', ['pull']);

        const { id, token } = await auth.createToken(
          'dev',
          'ci',
          [{ pattern: 'team/*', actions: ['pull'] }],
          null,
        );
        const expired = await auth.createToken('dev', 'old', null, new Date(Date.now() - 1000));
        expect(await auth.checkToken(token)).toMatchObject({ name: 'dev', tokenId: id, admin: false });
        expect(await auth.checkToken(expired.token)).toBeUndefined();
        expect(await auth.checkToken(token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A'))).toBeUndefined();
        expect(await auth.tokenActive(id)).toBe(true);
        const listed = await auth.listTokens('dev');
        expect(listed.map((t) => t.name).sort()).toEqual(['ci', 'old']);
        expect(listed.find((t) => t.id === id)?.lastUsedAt).not.toBeNull();
        await auth.revokeToken(id);
        await expect(auth.revokeToken(id)).rejects.toThrow(AuthError);
        expect(await auth.checkToken(token)).toBeUndefined();
        expect(await auth.tokenActive(id)).toBe(false);

        const sessions = new Sessions(state);
        const s = await sessions.create('dev');
        expect(await sessions.find(s.id)).toMatchObject({ principal: { name: 'dev' }, csrf: s.csrf });
        await state.db
          .updateTable('sessions')
          .set({ expires_at: iso(-1000) })
          .execute();
        expect(await sessions.find(s.id)).toBeUndefined();
        await sessions.sweep();
        expect(await state.db.selectFrom('sessions').selectAll().execute()).toEqual([]);

        await auth.deleteUser('dev');
        await expect(auth.deleteUser('dev')).rejects.toThrow(AuthError);
        expect(await auth.grantsFor(['user:dev'])).toEqual([]);
        expect(await auth.listTokens()).toEqual([]);
        expect(await auth.grantsFor(['anonymous'])).toHaveLength(1);
      });

      it('a password change ends the web sessions and earlier registry tokens; API tokens stay', async () => {
        const auth = new AuthStore(state);
        await auth.addUser('pat', 'password-1', false);
        const issued = Math.floor(Date.now() / 1000);
        expect(await auth.tokenCurrent('pat', issued)).toBe(true);
        const sessions = new Sessions(state);
        const s = await sessions.create('pat');
        const { token } = await auth.createToken('pat', 'ci', null, null);
        // The change is made through another node (or the CLI in another process).
        await new AuthStore(await another()).setPassword('pat', 'password-2');
        expect(await sessions.find(s.id)).toBeUndefined();
        expect(await auth.tokenCurrent('pat', issued)).toBe(false);
        expect(await auth.tokenCurrent('pat', Math.floor(Date.now() / 1000))).toBe(true);
        expect(await auth.checkToken(token)).toMatchObject({ name: 'pat' });
        expect(await auth.checkPassword('pat', 'password-1')).toBeUndefined();
        expect(await auth.checkPassword('pat', 'password-2')).toMatchObject({ name: 'pat' });
        await sessions.create('pat');
        await auth.deleteUser('pat');
        expect(await auth.tokenCurrent('pat', Math.floor(Date.now() / 1000))).toBe(false);
        expect(await state.db.selectFrom('sessions').selectAll().execute()).toEqual([]);
        expect(await auth.checkToken(token)).toBeUndefined();
      });
    });

    describe('build records', () => {
      const definition = (repository: string): BuildDefinition => ({
        dockerfile: 'FROM scratch\n',
        files: {},
        repository,
        tags: ['latest'],
        buildArgs: {},
        noCache: false,
        labels: {},
      });

      it('lists newest first with a created_at cursor; fails interrupted builds', async () => {
        const builds = new BuildRecords(state);
        const ids: string[] = [];
        for (let i = 0; i < 7; i++) {
          const id = `b${i}-${randomBytes(4).toString('hex')}`;
          await builds.insert(id, definition(`r${i}`), [`r${i}:latest`]);
          ids.push(id);
          await sleep(3);
        }
        await builds.started(ids[6]!, 'unix:///run/buildkit/buildkitd.sock');
        await builds.finished(ids[5]!, {
          state: 'failed',
          error: 'exit\u0000code 1',
          log: 'binary \u0000 output\nok\n',
          events: [],
        });
        const newest = [...ids].reverse();
        const pages: string[] = [];
        let before: string | undefined;
        for (;;) {
          const page = await builds.list(3, before);
          if (page.length === 0) break;
          pages.push(...page.map((b) => b.id));
          before = page[page.length - 1]!.createdAt;
        }
        expect(pages).toEqual(newest);
        const first = (await builds.get(ids[0]!))!;
        expect(first.definition.repository).toBe('r0');
        expect(first.images).toEqual(['r0:latest']);
        // NUL (refused by PostgreSQL in text) is stored as U+FFFD on both backends.
        expect(await builds.log(ids[5]!)).toBe('binary \uFFFD output\nok\n');
        expect((await builds.get(ids[5]!))?.error).toBe('exit\uFFFDcode 1');
        expect(await builds.events(ids[5]!)).toEqual([]);
        expect(await builds.failInterrupted('restarted')).toBe(6);
        expect((await builds.get(ids[6]!))?.state).toBe('failed');
        expect((await builds.get(ids[5]!))?.error).toBe('exit\uFFFDcode 1');
        expect((await builds.get(ids[4]!))?.error).toBe('restarted');
        expect((await builds.get(ids[6]!))?.worker).toBe('unix:///run/buildkit/buildkitd.sock');
        expect((await builds.get(ids[4]!))?.worker).toBeNull();
      });

      it('filters the history by state and repository, with the cursor', async () => {
        const builds = new BuildRecords(state);
        const made: { id: string; repository: string }[] = [];
        for (let i = 0; i < 6; i++) {
          const id = `f${i}-${randomBytes(4).toString('hex')}`;
          const repository = i % 2 ? 'team/odd' : 'team/even';
          await builds.insert(id, definition(repository), [`${repository}:latest`]);
          made.push({ id, repository });
          await sleep(3);
        }
        await builds.finished(made[1]!.id, { state: 'failed', error: 'x', log: '', events: [] });
        await builds.finished(made[3]!.id, { state: 'succeeded', log: '', events: [] });
        const odd = await builds.list(10, undefined, { repository: 'team/odd' });
        expect(odd.map((b) => b.id)).toEqual([made[5]!.id, made[3]!.id, made[1]!.id]);
        const ended = await builds.list(10, undefined, { states: ['failed', 'succeeded'] });
        expect(ended.map((b) => b.id)).toEqual([made[3]!.id, made[1]!.id]);
        const page1 = await builds.list(1, undefined, {
          repository: 'team/odd',
          states: ['queued', 'failed'],
        });
        expect(page1.map((b) => b.id)).toEqual([made[5]!.id]);
        const page2 = await builds.list(5, page1[0]!.createdAt, {
          repository: 'team/odd',
          states: ['queued', 'failed'],
        });
        expect(page2.map((b) => b.id)).toEqual([made[1]!.id]);
        expect(await builds.list(5, undefined, { repository: 'team/none' })).toEqual([]);
      });
    });

    describe('webhooks', () => {
      const push = (repository: string): OpenCloudEvent => ({
        id: randomUUID(),
        time: new Date().toISOString(),
        name: 'push',
        subject: `${repository}:latest`,
        data: {
          repository,
          tag: 'latest',
          tags: ['latest'],
          digest: digest(),
          mediaType: MANIFEST,
          artifactType: null,
          size: 1,
          actor: null,
        },
      });

      it('queues for subscribed, enabled webhooks and lists deliveries with attempts', async () => {
        const hooks = new WebhookStore(state, new WebhookTargets(['127.0.0.1']));
        const { webhook } = await hooks.create({
          url: 'http://127.0.0.1:9/a',
          events: ['push'],
          repositories: 'team/*',
        });
        await sleep(3); // listed oldest first: a millisecond apart, not tied
        await hooks.create({ url: 'http://127.0.0.1:9/b', events: ['delete'] });
        await sleep(3);
        await hooks.create({ url: 'http://127.0.0.1:9/c', events: ['push'], enabled: false });
        expect(webhook.enabled).toBe(true);
        expect((await hooks.list()).map((w) => w.url)).toEqual([
          'http://127.0.0.1:9/a',
          'http://127.0.0.1:9/b',
          'http://127.0.0.1:9/c',
        ]);
        expect(await hooks.enqueue(push('other/x'), 'test')).toEqual([]);
        const [id] = await hooks.enqueue(push('team/x'), 'test');
        expect(id).toBeDefined();
        expect(await hooks.nextDueInMs()).toBe(0);
        const [claimed] = await hooks.claim(5, 60_000);
        expect(claimed?.id).toBe(id);
        expect(await hooks.claim(5, 60_000)).toEqual([]);
        await hooks.recordAttempt(
          claimed!,
          {
            startedAt: iso(0),
            durationMs: 12.6,
            statusCode: 500,
            error: null,
            responseExcerpt: 'no\u0000',
            ok: false,
          },
          60_000,
        );
        const [d] = await hooks.deliveries(webhook.id);
        expect(d).toMatchObject({
          id,
          state: 'pending',
          attempts: [{ attempt: 1, durationMs: 13, statusCode: 500, responseExcerpt: 'no\uFFFD' }],
        });
        expect(await hooks.nextDueInMs()).toBeGreaterThan(50_000);
        const again = await hooks.redeliver(webhook.id, id!);
        expect((await hooks.delivery(webhook.id, again)).redeliveryOf).toBe(id);
        await hooks.delete(webhook.id);
        expect(await state.db.selectFrom('webhook_attempts').selectAll().execute()).toEqual([]);
        expect(await state.db.selectFrom('webhook_deliveries').selectAll().execute()).toEqual([]);
      });

      it('concurrent claimers on two nodes never take the same delivery', async () => {
        const a = new WebhookStore(state, new WebhookTargets(['127.0.0.1']));
        const b = new WebhookStore(await another(), new WebhookTargets(['127.0.0.1']));
        const hooks: string[] = [];
        for (let i = 0; i < 12; i++) {
          hooks.push((await a.create({ url: `http://127.0.0.1:9/${i}`, events: ['push'] })).webhook.id);
        }
        // Twelve webhooks, three events: 36 deliveries, at most one per webhook per claim.
        const queued: string[] = [];
        for (let i = 0; i < 3; i++) queued.push(...(await a.enqueue(push(`repo/${i}`), 'test')));
        expect(queued).toHaveLength(36);
        const claimed: string[] = [];
        for (let round = 0; round < 40 && claimed.length < queued.length; round++) {
          const batches = await Promise.all(
            Array.from({ length: 8 }, (_, i) => (i % 2 ? b : a).claim(4, 60_000)),
          );
          claimed.push(...batches.flat().map((d) => d.id));
        }
        expect(new Set(claimed).size).toBe(claimed.length);
        expect(claimed.sort()).toEqual([...queued].sort());
        // A delivery whose lease ran out is claimable again, by one claimer only.
        await state.db
          .updateTable('webhook_deliveries')
          .set({ lease_until: iso(-1000) })
          .where('id', '=', queued[0]!)
          .execute();
        const retaken = (
          await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 ? b : a).claim(12, 60_000)))
        ).flat();
        expect(retaken.map((d) => d.id)).toEqual([queued[0]]);
      });
    });

    describe('counts: the dashboard summary and the metrics', () => {
      it('counts repositories, manifests, tags, blobs and their bytes as numbers', async () => {
        const a = await pushed('count/a', ['t1', 't2']);
        await sleep(3);
        await pushed('count/b', ['latest']);
        await state.createUpload(randomUUID(), a.id);
        await sleep(3);
        await state.putManifest(a.id, a.manifest, [{ digest: a.layer, kind: 'blob' }], ['newest']);

        const app = Fastify();
        try {
          const auth = authContext(new AuthStore(state), new Sessions(state), randomBytes(32));
          await app.register(registrySummaryApi, { state, auth });
          const res = await app.inject({ method: 'GET', url: '/api/v1/registry/summary?recent=2' });
          expect(res.statusCode).toBe(200);
          const summary = res.json<RegistrySummary>();
          expect(summary).toMatchObject({
            scope: 'registry',
            repositories: 2,
            manifests: 2,
            tags: 4,
            blobs: 4,
          });
          expect(summary.blobBytes).toBe(2 * 1000 + 2 * 512);
          expect(summary.recentPushes.map((p) => `${p.repository}:${p.tag}`)).toEqual([
            'count/a:newest',
            'count/b:latest',
          ]);
        } finally {
          await app.close();
        }

        const metrics = new Metrics({
          state,
          sockets: { containerd: '/nonexistent/containerd.sock', buildkit: '/nonexistent/buildkitd.sock' },
          probeTimeoutMs: 50,
        });
        try {
          const text = await metrics.scrape();
          const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
          expect(value('opencloud_registry_repositories')).toBe(2);
          expect(value('opencloud_registry_manifests')).toBe(2);
          expect(value('opencloud_registry_tags')).toBe(4);
          expect(value('opencloud_registry_blobs')).toBe(4);
          expect(value('opencloud_registry_blob_bytes')).toBe(3024);
          expect(value('opencloud_registry_upload_sessions')).toBe(1);
        } finally {
          metrics.close();
        }
      });
    });

    describe('ledger and audit', () => {
      it('keeps install events in order and pages the audit trail by id', async () => {
        const ledger = new Ledger(state);
        await ledger.beginRun('run-1', 'container-registry', 'enable', { source: 'go' });
        for (const seq of [0, 1, 2, 10]) {
          await ledger.appendEvent('run-1', seq, {
            type: 'log',
            runId: 'run-1',
            time: iso(0),
            message: `m${seq}`,
          });
        }
        expect((await ledger.events('run-1')).map((e) => e.seq)).toEqual([0, 1, 2, 10]);
        expect((await ledger.events('run-1', 1)).map((e) => e.seq)).toEqual([2, 10]);
        expect((await ledger.run('run-1'))?.status).toBe('running');

        const audit = new AuditTrail(state);
        for (let i = 0; i < 5; i++) {
          await audit.record({ actor: 'dev', address: '::1', action: 'push', target: `r:${i}`, status: 201 });
        }
        const page = await audit.list(3);
        expect(page.map((r) => r.target)).toEqual(['r:4', 'r:3', 'r:2']);
        expect(typeof page[0]!.id).toBe('number');
        const rest = await audit.list(3, page[2]!.id);
        expect(rest.map((r) => r.target)).toEqual(['r:1', 'r:0']);
      });
    });
  });
}
