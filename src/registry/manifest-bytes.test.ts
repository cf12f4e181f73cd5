import { describe, expect, it } from 'vitest';
import { ManifestBytes } from './manifest-bytes.js';

describe('ManifestBytes', () => {
  const store = () => {
    const reads: string[] = [];
    const read = async (digest: string) => {
      reads.push(digest);
      return Buffer.alloc(Number(digest.split(':')[1]), digest);
    };
    return { reads, read };
  };

  it('reads a digest once, then answers from memory', async () => {
    const { reads, read } = store();
    const cache = new ManifestBytes(read, 1000);
    expect((await cache.get('d:10')).length).toBe(10);
    expect((await cache.get('d:10')).length).toBe(10);
    expect(reads).toEqual(['d:10']);
    expect(cache.size).toBe(10);
  });

  it('stays within its bound, dropping the least recently used first', async () => {
    const { reads, read } = store();
    const cache = new ManifestBytes(read, 400);
    await cache.get('a:100');
    await cache.get('b:100');
    await cache.get('c:100');
    await cache.get('a:100'); // a is now the most recent
    await cache.get('e:100');
    await cache.get('f:100'); // 500 bytes: b goes
    expect(cache.size).toBe(400);
    reads.length = 0;
    await cache.get('a:100');
    await cache.get('b:100');
    expect(reads).toEqual(['b:100']);
  });

  it('never keeps a manifest larger than a quarter of the bound, and passes read errors on', async () => {
    const { reads, read } = store();
    const cache = new ManifestBytes(read, 400);
    await cache.get('big:101');
    await cache.get('big:101');
    expect(reads).toEqual(['big:101', 'big:101']);
    expect(cache.size).toBe(0);
    const failing = new ManifestBytes(async () => {
      throw Object.assign(new Error('gone'), { code: 'ENOENT' });
    });
    await expect(failing.get('x:1')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
