// Immutable tags: tags matching a rule's regular expression, in repositories matching its pattern
// (as grants match: team/app, team/*, team/**), may be pushed once and then never moved or
// deleted — by anyone, admins included, until the rule itself is removed. Rules are kept as
// policy rows of kind "immutableTags" (state/policy-rows.ts) and carried by the ledger document.
import { matchesPattern } from '../auth/patterns.js';
import type { StateStore } from '../state/store.js';
import { checkEach, PolicyError, ruleExpression, ruleObject } from './rule-checks.js';

export { PolicyError };

export const IMMUTABLE_TAGS = 'immutableTags';

export interface ImmutableTagRule {
  /** Repository pattern. */
  repositories: string;
  /** Regular expression over the tag name (unanchored, as written). */
  tags: string;
}

/** The rule, checked: a repository pattern and an expression safe to run on any tag. */
export function checkImmutableRule(value: unknown): ImmutableTagRule {
  const r = ruleObject(value, 'an immutable-tags rule', '{repositories, tags}', ['repositories', 'tags']);
  return { repositories: r.repositories, tags: ruleExpression('tags', r.tags) };
}

/** The rules, each checked, no two for the same repositories. */
export function checkImmutableRules(values: unknown[]): ImmutableTagRule[] {
  return checkEach(
    values,
    checkImmutableRule,
    (repositories) => `two immutable-tags rules for ${repositories}: join their expressions with |`,
  );
}

export async function immutableTagRules(state: StateStore): Promise<ImmutableTagRule[]> {
  return (await state.policies(IMMUTABLE_TAGS)).map((row) => ({
    repositories: row.repositories,
    tags: String(row.rule.tags),
  }));
}

export async function setImmutableTagRules(state: StateStore, rules: ImmutableTagRule[]): Promise<void> {
  await state.replacePolicies(
    IMMUTABLE_TAGS,
    checkImmutableRules(rules).map((r) => ({ repositories: r.repositories, rule: { tags: r.tags } })),
  );
}

/** The rule that keeps `tag` of `repository` fixed, if one does. */
export function ruleFixing(
  rules: ImmutableTagRule[],
  repository: string,
  tag: string,
): ImmutableTagRule | undefined {
  return rules.find((r) => matchesPattern(r.repositories, repository) && new RegExp(r.tags).test(tag));
}

/** What `rule` keeps fixed now: at most `limit` repository:tag names, and how many in all. */
export async function previewImmutableRule(
  state: StateStore,
  rule: ImmutableTagRule,
  limit = 100,
): Promise<{ total: number; tags: string[] }> {
  const re = new RegExp(rule.tags);
  const matched = (await state.allTags()).filter(
    (t) => matchesPattern(rule.repositories, t.repository) && re.test(t.tag),
  );
  return { total: matched.length, tags: matched.slice(0, limit).map((t) => `${t.repository}:${t.tag}`) };
}

export const describeRule = (r: ImmutableTagRule) =>
  `the immutable-tags policy for ${r.repositories} (tags matching /${r.tags}/)`;
