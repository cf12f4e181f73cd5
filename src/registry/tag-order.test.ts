// Tag orders: version order as people read versions, newest first by push time, name.
import { describe, expect, it } from 'vitest';
import { compareVersions, sortTags } from './tag-order.js';

const asc = (tags: string[]) => [...tags].sort(compareVersions);

describe('compareVersions', () => {
  it('compares digit runs as numbers', () => {
    expect(asc(['0.0.10', '0.0.2', '0.0.1', '0.1.0', '0.0.9'])).toEqual([
      '0.0.1',
      '0.0.2',
      '0.0.9',
      '0.0.10',
      '0.1.0',
    ]);
    expect(asc(['v1.10', 'v1.9', 'v1.9.1', 'v2'])).toEqual(['v1.9', 'v1.9.1', 'v1.10', 'v2']);
  });

  it('puts pre-releases before their release, in their own order', () => {
    expect(asc(['1.0.0', '1.0.0-rc.10', '1.0.0-rc.2', '1.0.0-alpha', '0.9.9'])).toEqual([
      '0.9.9',
      '1.0.0-alpha',
      '1.0.0-rc.2',
      '1.0.0-rc.10',
      '1.0.0',
    ]);
  });

  it('keeps names without numbers in text order, and is a total order', () => {
    expect(asc(['latest', 'edge', 'stable'])).toEqual(['edge', 'latest', 'stable']);
    expect(compareVersions('1.0', '1.0')).toBe(0);
    expect(Math.sign(compareVersions('1.0', '1.x'))).toBe(-1);
    expect(Math.sign(compareVersions('1.x', '1.0'))).toBe(1);
  });
});

describe('sortTags', () => {
  const tags = [
    { name: '0.0.2', pushedAt: '2026-01-02T00:00:00.000Z' },
    { name: '0.0.10', pushedAt: '2026-01-01T00:00:00.000Z' },
    { name: 'latest', pushedAt: '2026-01-03T00:00:00.000Z' },
    { name: '0.0.1', pushedAt: '2026-01-03T00:00:00.000Z' },
  ];
  const names = (order: 'newest' | 'version' | 'name') => sortTags([...tags], order).map((t) => t.name);

  it('newest push first, ties by name', () => {
    expect(names('newest')).toEqual(['0.0.1', 'latest', '0.0.2', '0.0.10']);
  });
  it('highest version first', () => {
    expect(names('version')).toEqual(['latest', '0.0.10', '0.0.2', '0.0.1']);
  });
  it('by name as text', () => {
    expect(names('name')).toEqual(['0.0.1', '0.0.10', '0.0.2', 'latest']);
  });
});
