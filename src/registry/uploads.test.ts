// Open upload sessions are limited per repository and per opener, on a real SQLite state and a
// real filesystem blob store: a burst of parallel POSTs never gets past a limit, the refusal is
// 429 TOOMANYREQUESTS in the OCI envelope naming the config key, refused requests leave no row
// and no file, and a cancelled session makes room for a new one.
import { mkdtempSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Principal } from '../auth/store.js';
import { installErrorHandlers } from '../server/envelope.js';
import { openSqliteState } from '../state/sqlite.js';
import type { StateStore } from '../state/store.js';
import { FsBlobStore } from '../storage/fs-blob-store.js';
import type { Registry } from './context.js';
import { KeyedMutex } from './keyed-mutex.js';
import { cancelUpload, startUpload } from './uploads.js';

describe('upload session limits', () => {
  let dir: string;
  let state: StateStore;
  let blobs: FsBlobStore;
  let app: FastifyInstance;

  async function serve(limits: { maxUploadsPerRepository: number; maxUploadsPerUser: number }) {
    const reg: Registry = {
      state,
      blobs,
      options: { allowSparseManifests: false, uploadTtl: 3600, ...limits } as Registry['options'],
      digestLocks: new KeyedMutex(),
    };
    app = Fastify();
    installErrorHandlers(app);
    // Stands in for the registry's auth hook: who is asking, from a test header.
    app.addHook('onRequest', async (req) => {
      const user = req.headers['x-test-user'];
      if (typeof user === 'string') req.principal = { kind: 'user', name: user, admin: false } as Principal;
    });
    app.post<{ Params: { ns: string; repo: string } }>('/v2/:ns/:repo/blobs/uploads/', (req, reply) =>
      startUpload(reg, `${req.params.ns}/${req.params.repo}`, req, reply),
    );
    app.delete<{ Params: { ns: string; repo: string; id: string } }>(
      '/v2/:ns/:repo/blobs/uploads/:id',
      (req, reply) => cancelUpload(reg, `${req.params.ns}/${req.params.repo}`, req.params.id, reply),
    );
    await app.ready();
  }

  const post = (repo: string, user?: string) =>
    app.inject({
      method: 'POST',
      url: `/v2/${repo}/blobs/uploads/`,
      headers: user ? { 'x-test-user': user } : {},
    });
  const rows = async () => (await state.db.selectFrom('uploads').selectAll().execute()).length;
  const files = () => readdirSync(join(blobs.root, 'uploads')).length;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'opencloud-upload-limits-'));
    state = await openSqliteState(dir);
    blobs = new FsBlobStore(join(dir, 'registry'));
    await blobs.init();
  });
  afterEach(async () => {
    await app?.close();
    await state.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a burst of parallel POSTs by one user gets exactly the per-user limit', async () => {
    await serve({ maxUploadsPerRepository: 100, maxUploadsPerUser: 5 });
    const answers = await Promise.all(Array.from({ length: 30 }, () => post('team/app', 'mallory')));
    const codes = answers.map((a) => a.statusCode);
    expect(codes.filter((c) => c === 202)).toHaveLength(5);
    expect(codes.filter((c) => c === 429)).toHaveLength(25);
    const refused = answers.find((a) => a.statusCode === 429)!;
    expect(refused.json()).toEqual({
      errors: [
        {
          code: 'TOOMANYREQUESTS',
          message:
            'user mallory has 5 upload sessions open and registry.maxUploadsPerUser allows 5: complete or ' +
            'cancel one (DELETE its Location), or wait until it expires (registry.uploadTtl)',
          detail: { limit: 5, key: 'registry.maxUploadsPerUser' },
        },
      ],
    });
    expect(await rows()).toBe(5);
    expect(files()).toBe(5);
    // Another user is not held to mallory's count; mallory is held everywhere.
    expect((await post('team/app', 'bob')).statusCode).toBe(202);
    expect((await post('team/other', 'mallory')).statusCode).toBe(429);

    // Cancelling one makes room for exactly one more.
    const location = answers.find((a) => a.statusCode === 202)!.headers.location as string;
    expect((await app.inject({ method: 'DELETE', url: location })).statusCode).toBe(204);
    expect((await post('team/other', 'mallory')).statusCode).toBe(202);
    expect((await post('team/other', 'mallory')).statusCode).toBe(429);
  });

  it('the per-repository limit holds whoever opens them; anonymous callers count per address', async () => {
    await serve({ maxUploadsPerRepository: 4, maxUploadsPerUser: 3 });
    const answers = await Promise.all([
      ...Array.from({ length: 3 }, () => post('team/app', 'ann')),
      ...Array.from({ length: 3 }, () => post('team/app', 'ben')),
    ]);
    expect(answers.filter((a) => a.statusCode === 202)).toHaveLength(4);
    const refused = answers.find((a) => a.statusCode === 429)!;
    expect(refused.json<{ errors: { message: string }[] }>().errors[0]?.message).toMatch(
      /^repository team\/app has 4 upload sessions open and registry.maxUploadsPerRepository allows 4/,
    );
    expect((await post('team/elsewhere', 'ben')).statusCode).toBe(202);

    const anonymous = await Promise.all(Array.from({ length: 5 }, () => post('public/app')));
    expect(anonymous.filter((a) => a.statusCode === 202)).toHaveLength(3);
    expect(
      anonymous.find((a) => a.statusCode === 429)!.json<{ errors: { message: string }[] }>().errors[0]
        ?.message,
    ).toMatch(/^client 127\.0\.0\.1 has 3 upload sessions open and registry.maxUploadsPerUser allows 3/);
  });

  it('0 means no limit; an expired session no longer counts', async () => {
    await serve({ maxUploadsPerRepository: 0, maxUploadsPerUser: 0 });
    const answers = await Promise.all(Array.from({ length: 12 }, () => post('team/app', 'ann')));
    expect(answers.every((a) => a.statusCode === 202)).toBe(true);
    await app.close();
    await serve({ maxUploadsPerRepository: 0, maxUploadsPerUser: 12 });
    expect((await post('team/app', 'ann')).statusCode).toBe(429);
    // Started before the upload TTL (3600 s here): expired, whether or not collection ran yet.
    await state.db
      .updateTable('uploads')
      .set({ started_at: new Date(Date.now() - 2 * 3600_000).toISOString() })
      .execute();
    expect((await post('team/app', 'ann')).statusCode).toBe(202);
  });
});
