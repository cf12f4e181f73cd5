// The JSON form of a build context (files: path -> content) under the same rules as an archive:
// paths inside the context, none under another file, and the byte and file limits
// (build.contextMaxBytes, build.contextMaxFiles) with messages naming the key.
import { describe, expect, it } from 'vitest';
import { ContextTooLargeError } from './context-limits.js';
import { checkDefinition, ContextInvalidError, type BuildDefinition } from './definition.js';

const definition = (files: Record<string, string>): BuildDefinition => ({
  dockerfile: 'FROM busybox\nCOPY . /app/\n',
  files,
  repository: 'demo/app',
  tags: ['1'],
  buildArgs: {},
  noCache: false,
  labels: {},
});

const refusal = (files: Record<string, string>, limits?: { maxBytes: number; maxFiles: number }) => {
  try {
    checkDefinition(definition(files), limits);
    return undefined;
  } catch (err) {
    return err as Error;
  }
};

describe('checkDefinition: the JSON context', () => {
  it('accepts files inside the context', () => {
    expect(refusal({ 'app/main.js': 'x', 'app/lib/a.js': 'y', README: 'z' })).toBeUndefined();
  });

  it.each([
    ['../x', 'context path "../x" must not contain "..", "." or empty segments'],
    ['/etc/passwd', 'context path "/etc/passwd" must be relative (no leading /, no backslashes)'],
    ['a/../../x', 'context path "a/../../x" must not contain "..", "." or empty segments'],
    ['a//b', 'context path "a//b" must not contain "..", "." or empty segments'],
  ])('refuses the path %s', (path, message) => {
    const err = refusal({ [path]: 'x' });
    expect(err).toBeInstanceOf(ContextInvalidError);
    expect(err?.message).toBe(message);
  });

  it('refuses a file under another file', () => {
    const err = refusal({ a: 'x', 'a/b/c': 'y' });
    expect(err).toBeInstanceOf(ContextInvalidError);
    expect(err?.message).toBe('context path "a/b/c" lies under the file "a"');
  });

  it('limits the bytes (the Dockerfile included) and the file count, naming the keys', () => {
    const limits = { maxBytes: 100, maxFiles: 3 };
    expect(refusal({ a: 'x'.repeat(60) }, limits)).toBeUndefined(); // 60 + 26 bytes of Dockerfile
    const big = refusal({ a: 'x'.repeat(60), b: 'x'.repeat(20) }, limits);
    expect(big).toBeInstanceOf(ContextTooLargeError);
    expect(big?.message).toBe('the build context is 106 bytes; at most 100 (build.contextMaxBytes)');
    const many = refusal({ a: '', b: '', c: '' }, limits);
    expect(many).toBeInstanceOf(ContextTooLargeError);
    expect(many?.message).toBe(
      'the build context has 4 files (the Dockerfile included); at most 3 (build.contextMaxFiles)',
    );
  });
});

describe('checkDefinition: base images standing in for the ones the Dockerfile names', () => {
  const withBases = (baseImages: Record<string, string>) => {
    try {
      checkDefinition({ ...definition({}), baseImages });
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  };

  it('accepts FROM names with tags, hosts or digests, each replaced by an image of this registry', () => {
    expect(
      withBases({
        'node:20-bookworm-slim': 'base/node:20-slim',
        'docker.io/library/debian:12': 'base/debian@sha256:' + 'a'.repeat(64),
      }),
    ).toBeUndefined();
  });

  it.each([
    [
      { 'Node:20': 'base/node:20' },
      'base image "Node:20" is not an image name: "Node" is not a valid repository name',
    ],
    [
      { 'node:20': 'base/Node' },
      'the image standing in for "node:20" is not a reference: "Node" is not a valid',
    ],
    [
      { 'node:20': 'ghcr.io/evil/node:20' },
      'the image standing in for "node:20" names a registry host ("ghcr.io"); name a repository of this registry',
    ],
    [
      { 'node:20': '' },
      'the image standing in for "node:20" is not a reference: the image reference is empty',
    ],
  ])('refuses %j', (bases, message) => {
    expect(withBases(bases)).toContain(message);
  });

  it('refuses more than 16', () => {
    const many = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`b${i}`, `base/b${i}`]));
    expect(withBases(many)).toBe('17 base images replaced; at most 16');
  });
});
