// The read cache against a generation the test moves by hand: answers kept while it stands still,
// dropped when it moves, never kept when it moved during the read, frozen for sharing.
import { describe, expect, it } from 'vitest';
import { ReadCache } from './read-cache.js';

function counter() {
  let n = 0;
  return { current: () => n, move: () => void n++ };
}

describe('ReadCache', () => {
  it('answers from memory while the generation stands still, from the loader once it moves', async () => {
    const g = counter();
    const cache = new ReadCache<{ v: number } | undefined>(g);
    let loads = 0;
    const load = (v: number | undefined) => async () => {
      loads++;
      return v === undefined ? undefined : { v };
    };
    expect(await cache.get('a', load(1))).toEqual({ v: 1 });
    expect(await cache.get('a', load(2))).toEqual({ v: 1 });
    // "Not there" is an answer too.
    expect(await cache.get('none', load(undefined))).toBeUndefined();
    expect(await cache.get('none', load(3))).toBeUndefined();
    expect(loads).toBe(2);
    g.move();
    expect(await cache.get('a', load(2))).toEqual({ v: 2 });
    expect(await cache.get('none', load(3))).toEqual({ v: 3 });
    expect(loads).toBe(4);
  });

  it('does not keep an answer read while the generation moved', async () => {
    const g = counter();
    const cache = new ReadCache<number>(g);
    expect(
      await cache.get('a', async () => {
        g.move(); // a write lands while the row is being read
        return 1;
      }),
    ).toBe(1);
    expect(await cache.get('a', async () => 2)).toBe(2);
    expect(await cache.get('a', async () => 3)).toBe(2);
  });

  it('keeps at most `max` answers, the oldest dropped first', async () => {
    const cache = new ReadCache<string>(counter(), 2);
    let loads = 0;
    const load = (v: string) => async () => {
      loads++;
      return v;
    };
    await cache.get('a', load('a'));
    await cache.get('b', load('b'));
    await cache.get('c', load('c')); // drops a
    await cache.get('b', load('b'));
    expect(loads).toBe(3);
    await cache.get('a', load('a'));
    expect(loads).toBe(4);
  });

  it('freezes what it hands out, and without a generation reads every time', async () => {
    const cached = new ReadCache<{ tags: string[] }>(counter());
    const value = await cached.get('a', async () => ({ tags: ['x'] }));
    expect(Object.isFrozen(value) && Object.isFrozen(value.tags)).toBe(true);
    expect(() => value.tags.push('y')).toThrow(TypeError);

    const direct = new ReadCache<number>(undefined);
    let loads = 0;
    for (let i = 0; i < 3; i++) await direct.get('a', async () => ++loads);
    expect(loads).toBe(3);
  });
});
