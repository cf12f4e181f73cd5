// Retention: which tags and untagged manifests garbage collection may delete. Rules match
// repositories by pattern (as grants do). A tag goes only when no rule of its repository keeps
// it: a rule keeps its repository's newest `keepLast` tags by push time, the tags matching
// `keepTags`, and those pulled within `pulledWithinDays`; a rule that says none of these keeps
// every tag (it is there for `untaggedAfterDays`). A tag an immutable-tags rule fixes is never
// deleted. `untaggedAfterDays`: manifests with no tag, listed by no index and attached to no
// live manifest as a referrer, and carrying no referrer themselves, older than that many days.
import { matchesPattern } from '../auth/patterns.js';
import type { StateStore } from '../state/store.js';
import { ruleFixing, type ImmutableTagRule } from './immutable-tags.js';
import { checkEach, PolicyError, ruleExpression, ruleObject } from './rule-checks.js';

export const RETENTION = 'retention';

export interface RetentionRule {
  repositories: string;
  keepLast?: number;
  keepTags?: string;
  pulledWithinDays?: number;
  untaggedAfterDays?: number;
}

const COUNTS = ['keepLast', 'pulledWithinDays', 'untaggedAfterDays'] as const;
const KEYS = ['repositories', 'keepTags', ...COUNTS];

export function checkRetentionRule(value: unknown): RetentionRule {
  const r = ruleObject(
    value,
    'a retention rule',
    '{repositories, keepLast?, keepTags?, pulledWithinDays?, untaggedAfterDays?}',
    KEYS,
  );
  const rule: RetentionRule = { repositories: r.repositories };
  for (const k of COUNTS) {
    const n = r[k];
    if (n === undefined) continue;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 1_000_000)
      throw new PolicyError(`${k} must be a whole number from 0 to 1000000`);
    rule[k] = n;
  }
  if (r.keepTags !== undefined) rule.keepTags = ruleExpression('keepTags', r.keepTags);
  if (Object.keys(rule).length === 1)
    throw new PolicyError(`the retention rule for ${rule.repositories} says nothing to keep or delete`);
  return rule;
}

export function checkRetentionRules(values: unknown[]): RetentionRule[] {
  return checkEach(values, checkRetentionRule, (repositories) => `two retention rules for ${repositories}`);
}

export async function retentionRules(state: StateStore): Promise<RetentionRule[]> {
  return (await state.policies(RETENTION)).map((row) => ({ repositories: row.repositories, ...row.rule }));
}

export async function setRetentionRules(state: StateStore, rules: RetentionRule[]): Promise<void> {
  await state.replacePolicies(
    RETENTION,
    checkRetentionRules(rules).map(({ repositories, ...rule }) => ({ repositories, rule: { ...rule } })),
  );
}

/** A tag as retention judges it. */
export interface TagState {
  repository: string;
  tag: string;
  digest: string;
  /** When it last moved (ISO 8601). */
  pushedAt: string;
  /** When its manifest was last pulled; null: never. */
  pulledAt: string | null;
}

const DAY = 86_400_000;
const governsTags = (r: RetentionRule) =>
  r.keepLast !== undefined || r.keepTags !== undefined || r.pulledWithinDays !== undefined;

/** The tags retention deletes now: those no rule of their repository keeps, never a fixed one. */
export function expiredTags<T extends TagState>(
  tags: T[],
  rules: RetentionRule[],
  fixed: ImmutableTagRule[],
  now: Date,
): T[] {
  const byRepository = new Map<string, T[]>();
  for (const t of tags) byRepository.set(t.repository, [...(byRepository.get(t.repository) ?? []), t]);
  const out: T[] = [];
  for (const [repository, list] of byRepository) {
    const mine = rules.filter((r) => matchesPattern(r.repositories, repository));
    if (mine.length === 0 || mine.some((r) => !governsTags(r))) continue;
    const newestFirst = [...list].sort((a, b) =>
      a.pushedAt < b.pushedAt ? 1 : a.pushedAt > b.pushedAt ? -1 : a.tag < b.tag ? -1 : 1,
    );
    const kept = new Set<string>();
    for (const r of mine) {
      if (r.keepLast !== undefined) newestFirst.slice(0, r.keepLast).forEach((t) => kept.add(t.tag));
      if (r.keepTags !== undefined) {
        const re = new RegExp(r.keepTags);
        list.filter((t) => re.test(t.tag)).forEach((t) => kept.add(t.tag));
      }
      if (r.pulledWithinDays !== undefined) {
        const since = new Date(now.getTime() - r.pulledWithinDays * DAY).toISOString();
        list.filter((t) => t.pulledAt !== null && t.pulledAt >= since).forEach((t) => kept.add(t.tag));
      }
    }
    for (const t of newestFirst) if (!kept.has(t.tag) && !ruleFixing(fixed, repository, t.tag)) out.push(t);
  }
  return out.sort((a, b) => (`${a.repository}:${a.tag}` < `${b.repository}:${b.tag}` ? -1 : 1));
}

/** The tags retention would delete now with `rule` in place of any rule for its repositories. */
export async function previewRetentionRule(
  state: StateStore,
  rule: RetentionRule,
  fixed: ImmutableTagRule[],
  limit = 100,
): Promise<{ total: number; tags: string[] }> {
  const rules = [...(await retentionRules(state)).filter((r) => r.repositories !== rule.repositories), rule];
  const expired = expiredTags(await state.tagStates(), rules, fixed, new Date());
  return { total: expired.length, tags: expired.slice(0, limit).map((t) => `${t.repository}:${t.tag}`) };
}

/**
 * The age in days after which untagged manifests of `repository` go, if a rule says: the largest
 * of its rules' (what one rule keeps, no other deletes).
 */
export function untaggedAfterDays(rules: RetentionRule[], repository: string): number | undefined {
  const days = rules
    .filter((r) => r.untaggedAfterDays !== undefined && matchesPattern(r.repositories, repository))
    .map((r) => r.untaggedAfterDays as number);
  return days.length ? Math.max(...days) : undefined;
}
