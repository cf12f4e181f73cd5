// Grant patterns: what they match, and when one pattern covers another (a token's scope within
// its user's grants).
import { describe, expect, it } from 'vitest';
import { matchesPattern, patternCovers } from './patterns.js';

describe('matchesPattern', () => {
  it.each([
    ['team/*', 'team/app', true],
    ['team/*', 'team/a/b', false],
    ['team/**', 'team/a/b', true],
    ['*', 'app', true],
    ['*', 'team/app', false],
    ['**', 'a/b/c', true],
    ['team/app', 'team/app', true],
    ['team/app', 'team/apps', false],
  ])('%s matches %s: %s', (pattern, repo, expected) => {
    expect(matchesPattern(pattern, repo)).toBe(expected);
  });
});

describe('patternCovers', () => {
  it.each([
    ['team/*', 'team/app', true],
    ['team/*', 'team/*', true],
    ['team/**', 'team/*', true],
    ['team/**', 'team/a/**', true],
    ['**', 'anything/**', true],
    ['team/*', 'team/**', false],
    ['team/*', 'team/a/b', false],
    ['team/*', 'other/app', false],
    ['team/app', 'team/*', false],
    ['team/a*', 'team/*', false],
    ['*', '**', false],
    ['*', 'team/app', false],
  ])('%s covers %s: %s', (grant, pattern, expected) => {
    expect(patternCovers(grant, pattern)).toBe(expected);
  });
});
