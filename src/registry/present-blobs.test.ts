import { describe, expect, it } from 'vitest';
import { PresentBlobs } from './present-blobs.js';

describe('PresentBlobs', () => {
  it('asks the store once within the TTL, and again after it', async () => {
    let t = 0;
    const asked: string[] = [];
    const sizes = new Map([['a', 5]]);
    const present = new PresentBlobs(
      async (d) => {
        asked.push(d);
        return sizes.get(d);
      },
      1000,
      () => t,
    );
    expect(await present.size('a')).toBe(5);
    t = 999;
    expect(await present.size('a')).toBe(5);
    expect(asked).toEqual(['a']);
    sizes.delete('a'); // removed behind the registry's back: noticed once the TTL is over
    t = 1000;
    expect(await present.size('a')).toBeUndefined();
    expect(asked).toEqual(['a', 'a']);
  });

  it('never remembers a blob the store does not have', async () => {
    const asked: string[] = [];
    const present = new PresentBlobs(async (d) => {
      asked.push(d);
      return undefined;
    });
    expect(await present.size('x')).toBeUndefined();
    expect(await present.size('x')).toBeUndefined();
    expect(asked).toEqual(['x', 'x']);
  });
});
