import { describe, expect, it } from 'vitest';
import { PolicyError } from './immutable-tags.js';
import {
  checkRetentionRule,
  checkRetentionRules,
  expiredTags,
  untaggedAfterDays,
  type TagState,
} from './retention.js';

const NOW = new Date('2026-12-08T00:00:00.000Z');
const daysAgo = (d: number) => new Date(NOW.getTime() - d * 86_400_000).toISOString();

/** Tags of `repository` pushed one day apart, the first oldest. */
const tags = (repository: string, names: string[], pulled: Record<string, number> = {}): TagState[] =>
  names.map((tag, i) => ({
    repository,
    tag,
    digest: `sha256:${tag}`,
    pushedAt: daysAgo(names.length - i),
    pulledAt: pulled[tag] === undefined ? null : daysAgo(pulled[tag]),
  }));

const gone = (t: TagState[]) => t.map((x) => `${x.repository}:${x.tag}`);

describe('retention', () => {
  it('keepLast keeps the newest by push time; the rest of a matched repository goes', () => {
    const all = tags('team/app', ['1', '2', '3', '4']);
    expect(gone(expiredTags(all, [{ repositories: 'team/*', keepLast: 2 }], [], NOW))).toEqual([
      'team/app:1',
      'team/app:2',
    ]);
    expect(expiredTags(all, [{ repositories: 'other/*', keepLast: 0 }], [], NOW)).toEqual([]);
  });

  it('a tag goes only if no rule keeps it: keepTags, pulledWithinDays and keepLast add up', () => {
    const all = tags('team/app', ['v1', 'a', 'b', 'c', 'latest'], { a: 5, b: 40 });
    const rules = [
      { repositories: 'team/**', keepLast: 1, keepTags: '^v' },
      { repositories: 'team/app', pulledWithinDays: 30 },
    ];
    expect(gone(expiredTags(all, rules, [], NOW))).toEqual(['team/app:b', 'team/app:c']);
  });

  it('a rule that governs no tags keeps them all; an immutable tag is never deleted', () => {
    const all = tags('team/app', ['v1', 'x', 'y']);
    expect(
      expiredTags(
        all,
        [
          { repositories: 'team/*', keepLast: 0 },
          { repositories: 'team/app', untaggedAfterDays: 7 },
        ],
        [],
        NOW,
      ),
    ).toEqual([]);
    expect(
      gone(
        expiredTags(
          all,
          [{ repositories: 'team/*', keepLast: 0 }],
          [{ repositories: 'team/**', tags: '^v' }],
          NOW,
        ),
      ),
    ).toEqual(['team/app:x', 'team/app:y']);
  });

  it('untaggedAfterDays: the most lenient matching rule', () => {
    const rules = [
      { repositories: 'team/**', untaggedAfterDays: 7 },
      { repositories: 'team/app', untaggedAfterDays: 30 },
      { repositories: 'team/other', keepLast: 3 },
    ];
    expect(untaggedAfterDays(rules, 'team/app')).toBe(30);
    expect(untaggedAfterDays(rules, 'team/x')).toBe(7);
    expect(untaggedAfterDays(rules, 'else/x')).toBeUndefined();
  });

  it('refuses rules that say nothing, bad numbers and expressions, unknown keys and twins', () => {
    for (const bad of [
      { repositories: 'team/*' },
      { repositories: 'team/*', keepLast: -1 },
      { repositories: 'team/*', keepLast: 1.5 },
      { repositories: 'team/*', keepTags: '(' },
      { repositories: 'Team', keepLast: 1 },
      { repositories: 'team/*', keepLast: 1, keepForever: true },
    ])
      expect(() => checkRetentionRule(bad), JSON.stringify(bad)).toThrow(PolicyError);
    expect(() =>
      checkRetentionRules([
        { repositories: 'a', keepLast: 1 },
        { repositories: 'a', keepLast: 2 },
      ]),
    ).toThrow(/two retention rules for a/);
    expect(checkRetentionRule({ repositories: 'a/**', keepLast: 0 })).toEqual({
      repositories: 'a/**',
      keepLast: 0,
    });
  });
});
