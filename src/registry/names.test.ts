import { describe, expect, it } from 'vitest';
import { parseRange } from './blobs.js';
import { OciError } from './errors.js';
import { parseDigest, parseRegistryPath, validateName } from './names.js';

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as OciError).code;
  }
  return 'no error';
};

describe('registry paths', () => {
  it('splits names that contain slashes and keyword-like components', () => {
    expect(parseRegistryPath('/v2/a/b/c/blobs/uploads/')).toEqual({ kind: 'uploads', name: 'a/b/c' });
    expect(parseRegistryPath('/v2/a/blobs/uploads/abcDEF123_-x')).toEqual({
      kind: 'upload',
      name: 'a',
      id: 'abcDEF123_-x',
    });
    expect(parseRegistryPath('/v2/foo/blobs/blobs/sha256:00')).toEqual({
      kind: 'blob',
      name: 'foo/blobs',
      digest: 'sha256:00',
    });
    expect(parseRegistryPath('/v2/a/manifests/b/tags/list')).toEqual({ kind: 'tags', name: 'a/manifests/b' });
    expect(parseRegistryPath('/v2/x/manifests/latest')).toEqual({
      kind: 'manifest',
      name: 'x',
      reference: 'latest',
    });
    expect(parseRegistryPath('/v2/x/referrers/sha256:ab')).toEqual({
      kind: 'referrers',
      name: 'x',
      digest: 'sha256:ab',
    });
    expect(parseRegistryPath('/v2/_catalog')).toEqual({ kind: 'catalog' });
    expect(parseRegistryPath('/v2/x/unknown')).toBeUndefined();
  });

  it('refuses names outside the grammar, traversal included', () => {
    for (const bad of [
      'Upper',
      'a//b',
      '../etc',
      'a/../b',
      '-a',
      'a-',
      'a__-b',
      '.',
      'a/./b',
      'x'.repeat(256),
    ]) {
      expect(
        code(() => validateName(bad)),
        bad,
      ).toBe('NAME_INVALID');
    }
    for (const good of ['a', 'a/b', 'a-b--c', 'a__b', 'a.b_c/d0'])
      expect(code(() => validateName(good))).toBe('no error');
    expect(code(() => parseRegistryPath('/v2/%2e%2e/blobs/uploads/'))).toBe('NAME_INVALID');
  });

  it('parses digests and names unsupported algorithms', () => {
    expect(parseDigest(`sha256:${'a'.repeat(64)}`).algorithm).toBe('sha256');
    expect(parseDigest(`sha512:${'b'.repeat(128)}`).algorithm).toBe('sha512');
    expect(() => parseDigest(`md5:${'a'.repeat(32)}`)).toThrow(/unsupported digest algorithm md5/);
    expect(code(() => parseDigest(`sha256:${'A'.repeat(64)}`))).toBe('DIGEST_INVALID');
    expect(code(() => parseDigest('sha256:abc'))).toBe('DIGEST_INVALID');
    expect(code(() => parseDigest('nocolon'))).toBe('DIGEST_INVALID');
  });
});

describe('blob Range header', () => {
  it('serves single byte ranges and refuses what lies outside', () => {
    expect(parseRange('bytes=0-3', 10)).toEqual({ start: 0, end: 3 });
    expect(parseRange('bytes=4-', 10)).toEqual({ start: 4, end: 9 });
    expect(parseRange('bytes=-3', 10)).toEqual({ start: 7, end: 9 });
    expect(parseRange('bytes=5-100', 10)).toEqual({ start: 5, end: 9 });
    expect(parseRange('bytes=10-12', 10)).toBe('unsatisfiable');
    expect(parseRange('bytes=5-2', 10)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-1,4-5', 10)).toBeUndefined();
    expect(parseRange(undefined, 10)).toBeUndefined();
  });
});
