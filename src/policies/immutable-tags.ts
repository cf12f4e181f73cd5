// Immutable tags: tags matching a rule's regular expression, in repositories matching its pattern
// (as grants match: team/app, team/*, team/**), may be pushed once and then never moved or
// deleted — by anyone, admins included, until the rule itself is removed. Rules are kept as
// policy rows of kind "immutableTags" (state/policy-rows.ts) and carried by the ledger document.
import { matchesPattern } from '../auth/patterns.js';
import { checkPattern } from '../auth/store.js';
import type { StateStore } from '../state/store.js';
import { regexProblem } from './safe-regex.js';

export const IMMUTABLE_TAGS = 'immutableTags';

export interface ImmutableTagRule {
  /** Repository pattern. */
  repositories: string;
  /** Regular expression over the tag name (unanchored, as written). */
  tags: string;
}

/** A rule that cannot be stored: the message says which part and why. */
export class PolicyError extends Error {}

/** Long enough for any sensible expression; tags are at most 128 characters. */
const MAX_REGEX = 256;

/** The rule, checked: a repository pattern and a regular expression that compiles. */
export function checkImmutableRule(value: unknown): ImmutableTagRule {
  const r = value as Partial<ImmutableTagRule> | null;
  if (typeof r !== 'object' || r === null || Array.isArray(r))
    throw new PolicyError('an immutable-tags rule is an object {repositories, tags}');
  const extra = Object.keys(r).filter((k) => k !== 'repositories' && k !== 'tags');
  if (extra.length) throw new PolicyError(`an immutable-tags rule has no ${extra.join(', ')}`);
  if (typeof r.repositories !== 'string') throw new PolicyError('repositories must be a repository pattern');
  try {
    checkPattern(r.repositories);
  } catch (err) {
    throw new PolicyError((err as Error).message);
  }
  if (typeof r.tags !== 'string' || r.tags === '' || r.tags.length > MAX_REGEX)
    throw new PolicyError(`tags must be a regular expression of 1 to ${MAX_REGEX} characters`);
  const problem = regexProblem(r.tags);
  if (problem) throw new PolicyError(`tags ${JSON.stringify(r.tags)} ${problem}`);
  return { repositories: r.repositories, tags: r.tags };
}

/** The rules, each checked, no two for the same repositories. */
export function checkImmutableRules(values: unknown[]): ImmutableTagRule[] {
  const rules = values.map(checkImmutableRule);
  const seen = new Set<string>();
  for (const r of rules) {
    if (seen.has(r.repositories))
      throw new PolicyError(`two immutable-tags rules for ${r.repositories}: join their expressions with |`);
    seen.add(r.repositories);
  }
  return rules;
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
