import { describe, expect, it } from 'vitest';
import { checkDockerfile } from './dockerfile.js';
import { parsePlatforms } from './platform.js';
import { formatReference, parseReference } from './reference.js';

describe('image references', () => {
  it('parses what clients accept', () => {
    expect(parseReference('demo/app:1')).toEqual({ repository: 'demo/app', tag: '1' });
    expect(parseReference('127.0.0.1:5000/a/b-c__d.e:v1.2')).toEqual({
      domain: '127.0.0.1:5000',
      repository: 'a/b-c__d.e',
      tag: 'v1.2',
    });
    expect(parseReference('localhost/x')).toEqual({ domain: 'localhost', repository: 'x' });
    const d = `sha256:${'a'.repeat(64)}`;
    expect(parseReference(`r.example.com/x@${d}`)).toEqual({
      domain: 'r.example.com',
      repository: 'x',
      digest: d,
    });
    expect(formatReference(parseReference('h:1/a:b'))).toBe('h:1/a:b');
  });
  it('refuses what clients refuse, naming the part', () => {
    expect(() => parseReference('Demo/app')).toThrow('"Demo" is not a valid repository name component');
    expect(() => parseReference('demo/app:')).toThrow('"" is not a valid tag');
    expect(() => parseReference('demo//app')).toThrow('"" is not a valid repository name component');
    expect(() => parseReference('demo/app:-x')).toThrow('"-x" is not a valid tag');
    expect(() => parseReference('demo/app@sha256:12')).toThrow('is not a valid digest');
    expect(() => parseReference('bad_host:5000:1/x')).toThrow();
    expect(() => parseReference('')).toThrow('empty');
  });
});

describe('Dockerfile check', () => {
  it('accepts ARG before FROM, comments, directives and continuations', () => {
    expect(() =>
      checkDockerfile('# syntax=docker/dockerfile:1\nARG BASE=busybox\n\nFROM $BASE\nRUN true'),
    ).not.toThrow();
    expect(() => checkDockerfile('ARG A=1 \\\n  B=2\nfrom x')).not.toThrow();
  });
  it('refuses a Dockerfile without FROM or with another instruction first', () => {
    expect(() => checkDockerfile('RUN echo hi\nFROM x')).toThrow('RUN before its first FROM');
    expect(() => checkDockerfile('ARG A\n# only an arg')).toThrow('no FROM instruction');
    expect(() => checkDockerfile('  \n')).toThrow('empty');
  });
});

describe('platforms', () => {
  it('parses linux platforms and refuses others', () => {
    expect(parsePlatforms('linux/amd64,linux/arm64/v8')).toEqual(['linux/amd64', 'linux/arm64/v8']);
    expect(() => parsePlatforms('windows/amd64')).toThrow('"windows/amd64" is not a platform');
    expect(() => parsePlatforms('linux/z80')).toThrow('is not a platform');
  });
});
