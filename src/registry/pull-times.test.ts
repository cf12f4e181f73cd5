import { describe, expect, it } from 'vitest';
import type { Pull } from '../state/store.js';
import { PullTimes } from './pull-times.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('PullTimes', () => {
  it('writes nothing per pull: one batch per interval with the newest time per manifest', async () => {
    const batches: Pull[][] = [];
    const times = new PullTimes(
      async (pulls) => {
        batches.push(pulls);
      },
      () => undefined,
      50,
    );
    times.pulled('a/b', 'sha256:1');
    await sleep(5);
    const between = new Date().toISOString();
    await sleep(5);
    times.pulled('a/b', 'sha256:1');
    times.pulled('a/b', 'sha256:2');
    times.pulled('c', 'sha256:1');
    expect(batches).toEqual([]);
    await sleep(120);
    expect(batches).toHaveLength(1);
    const batch = batches[0] as Pull[];
    expect(batch.map((p) => `${p.repository}@${p.digest}`).sort()).toEqual([
      'a/b@sha256:1',
      'a/b@sha256:2',
      'c@sha256:1',
    ]);
    const first = batch.find((p) => p.digest === 'sha256:1' && p.repository === 'a/b') as Pull;
    expect(first.at > between).toBe(true);
    // Nothing pending: no empty batch.
    await times.flush();
    expect(batches).toHaveLength(1);
  });

  it('flush() writes at once and waits for the batch; a failed batch is kept for the next one', async () => {
    let fail = true;
    const written: Pull[][] = [];
    const errors: unknown[] = [];
    const times = new PullTimes(
      async (pulls) => {
        if (fail) throw new Error('database away');
        written.push(pulls);
      },
      (err) => errors.push(err),
      60_000,
    );
    times.pulled('r', 'sha256:old');
    await expect(times.flush()).rejects.toThrow('database away');
    // A newer pull of the same manifest wins over the kept one.
    times.pulled('r', 'sha256:new');
    fail = false;
    // Later flushes are not failed by the earlier batch.
    await times.flush();
    expect(written).toHaveLength(1);
    expect((written[0] as Pull[]).map((p) => p.digest).sort()).toEqual(['sha256:new', 'sha256:old']);
    await expect(times.flush()).resolves.toBeUndefined();
    expect(errors).toEqual([]);
  });

  it('writes at once past 10,000 manifests pending, so memory stays bounded', async () => {
    const sizes: number[] = [];
    const times = new PullTimes(
      async (pulls) => {
        sizes.push(pulls.length);
      },
      () => undefined,
      60_000,
    );
    for (let i = 0; i < 10_001; i++) times.pulled('r', `sha256:${i}`);
    await times.flush();
    expect(sizes).toEqual([10_000, 1]);
  });
});
