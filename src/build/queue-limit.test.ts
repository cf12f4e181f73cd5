// The per-user build queue limit over real build records (SQLite): builds queued or running
// count, finished ones and other users' do not, places handed out count until given back, and
// parallel requests of one user cannot all slip under the limit.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteState } from '../state/sqlite.js';
import type { StateStore } from '../state/store.js';
import { QueueLimit, TooManyBuildsError } from './queue-limit.js';
import { BuildRecords } from './records.js';
import type { BuildDefinition } from './definition.js';

let dir: string;
let state: StateStore;
let records: BuildRecords;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'opencloud-queue-limit-'));
  state = await openSqliteState(dir);
  records = new BuildRecords(state);
});
afterEach(async () => {
  await state.close();
  await rm(dir, { recursive: true, force: true });
});

const definition: BuildDefinition = {
  dockerfile: 'FROM busybox\n',
  files: {},
  repository: 'demo/app',
  tags: ['1'],
  buildArgs: {},
  noCache: false,
  labels: {},
};
let n = 0;
const build = async (requestedBy: string | null, state: 'queued' | 'running' | 'succeeded' = 'queued') => {
  const id = `b${n++}`;
  await records.insert(id, definition, ['h/demo/app:1'], requestedBy);
  if (state !== 'queued') await records.started(id, 'unix:///run/buildkit/buildkitd.sock');
  if (state === 'succeeded') await records.finished(id, { state, log: '', events: [] });
};

const refused = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (err: unknown) => err,
  );

describe('QueueLimit', () => {
  it('counts queued and running builds of the user, and the places it handed out', async () => {
    await build('alice');
    await build('alice', 'running');
    await build('alice', 'succeeded');
    await build('bob');
    expect(await records.countActive('alice')).toBe(2);
    const limit = new QueueLimit(records, 3);
    const place = await limit.take('alice');
    const err = await refused(limit.take('alice'));
    expect(err).toBeInstanceOf(TooManyBuildsError);
    expect((err as Error).message).toBe(
      'user "alice" already has 3 builds queued or running; at most 3 per user (build.maxQueuedPerUser): wait for one to finish, or cancel one',
    );
    expect(await limit.take('bob')).toMatchObject({ requester: 'bob' });
    place.release();
    place.release(); // the second time changes nothing
    const again = await limit.take('alice');
    expect(await refused(limit.take('alice'))).toBeInstanceOf(TooManyBuildsError);
    again.release();
  });

  it('counts builds without a signed-in user together', async () => {
    await build(null);
    const limit = new QueueLimit(records, 1);
    expect(((await refused(limit.take(null))) as Error).message).toBe(
      'builds without a signed-in user already have 1 build queued or running; at most 1 per user (build.maxQueuedPerUser): wait for one to finish, or cancel one',
    );
    expect(await limit.take('alice')).toMatchObject({ requester: 'alice' });
  });

  it('lets exactly the limit through when one user asks many times at once', async () => {
    const limit = new QueueLimit(records, 3);
    const all = await Promise.allSettled(Array.from({ length: 12 }, () => limit.take('carol')));
    expect(all.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    for (const r of all) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(TooManyBuildsError);
  });
});
