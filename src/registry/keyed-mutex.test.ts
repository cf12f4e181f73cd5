import { describe, expect, it } from 'vitest';
import { KeyedMutex } from './keyed-mutex.js';

describe('KeyedMutex', () => {
  it('runs holders of one key one at a time, in order, and other keys freely', async () => {
    const m = new KeyedMutex();
    const log: string[] = [];
    const hold = (key: string, name: string, ms: number) =>
      m.run(key, async () => {
        log.push(`${name}+`);
        await new Promise((r) => setTimeout(r, ms));
        log.push(`${name}-`);
      });
    await Promise.all([hold('a', 'a1', 30), hold('a', 'a2', 1), hold('b', 'b1', 5)]);
    expect(log.indexOf('a1-')).toBeLessThan(log.indexOf('a2+'));
    expect(log.indexOf('b1-')).toBeLessThan(log.indexOf('a1-'));
  });

  it('releases the key when the holder throws', async () => {
    const m = new KeyedMutex();
    await expect(m.run('k', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await m.run('k', async () => 'next')).toBe('next');
  });
});
