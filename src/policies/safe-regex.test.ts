import { describe, expect, it } from 'vitest';
import { regexProblem } from './safe-regex.js';

describe('regexProblem', () => {
  it('takes the expressions tag rules are made of', () => {
    for (const ok of [
      '^v[0-9]',
      '^v\\d+\\.\\d+\\.\\d+$',
      '^(release|stable)-',
      '(ab)+',
      '(?:ab)+c',
      '^[a-z]+(-[a-z]+)?$',
      '^v(\\d+)\\.(\\d+)$',
      'a{2,5}b*?',
      '[(+*)]+',
      '(?<major>\\d+)\\.x',
      '^(?!dev-)',
    ])
      expect(regexProblem(ok), ok).toBeUndefined();
  });

  it('refuses nested repetition, repeated alternation, backreferences and what does not compile', () => {
    for (const bad of [
      '^(a|aa)+$',
      '(a+)+$',
      '(a*)*b',
      '(a|a)*b',
      '((ab)*c)+',
      '(x+){2,}',
      '(\\w+\\d?)+',
      '(a)\\1',
    ])
      expect(regexProblem(bad), bad).toMatch(/^is refused: /);
    expect(regexProblem('(')).toMatch(/^is not a regular expression: .*Unterminated group/);
  });
});
