// Quotas: the bytes a namespace (the repositories a pattern matches) may store, each blob counted
// once however many of its repositories and manifests use it. Checked where bytes become part of
// a repository — an upload finished, a blob mounted, a manifest put — in the same transaction
// that links them, under a lock per quota (state/store.ts linkBlob): concurrent pushes into one
// namespace, on one node or several, are counted one after the other and never pass it.
import { matchesPattern } from '../auth/patterns.js';
import type { QuotaCheck, StateStore } from '../state/store.js';
import { checkEach, PolicyError, ruleObject } from './rule-checks.js';

export const QUOTAS = 'quotas';

export interface QuotaRule {
  repositories: string;
  bytes: number;
}

export function checkQuotaRule(value: unknown): QuotaRule {
  const r = ruleObject(value, 'a quota', '{repositories, bytes}', ['repositories', 'bytes']);
  if (typeof r.bytes !== 'number' || !Number.isSafeInteger(r.bytes) || r.bytes <= 0)
    throw new PolicyError('bytes must be a whole number above 0');
  return { repositories: r.repositories, bytes: r.bytes };
}

export function checkQuotaRules(values: unknown[]): QuotaRule[] {
  return checkEach(values, checkQuotaRule, (repositories) => `two quotas for ${repositories}`);
}

export async function quotaRules(state: StateStore): Promise<QuotaRule[]> {
  return (await state.policies(QUOTAS)).map((row) => ({
    repositories: row.repositories,
    bytes: Number(row.rule.bytes),
  }));
}

export async function setQuotaRules(state: StateStore, rules: QuotaRule[]): Promise<void> {
  await state.replacePolicies(
    QUOTAS,
    checkQuotaRules(rules).map((r) => ({ repositories: r.repositories, rule: { bytes: r.bytes } })),
  );
}

/** The quotas `repository` falls under, each with the repositories it counts (for linkBlob). */
export async function quotaChecks(state: StateStore, repository: string): Promise<QuotaCheck[]> {
  const rules = (await quotaRules(state)).filter((r) => matchesPattern(r.repositories, repository));
  if (rules.length === 0) return [];
  const all = await state.repositoryIds();
  return rules.map((r) => ({
    key: r.repositories,
    bytes: r.bytes,
    repositoryIds: all.filter((x) => matchesPattern(r.repositories, x.name)).map((x) => x.id),
  }));
}

/** Each quota with the bytes its namespace holds now. */
export async function quotaUsage(state: StateStore): Promise<(QuotaRule & { used: number })[]> {
  const all = await state.repositoryIds();
  const out = [];
  for (const r of await quotaRules(state)) {
    const ids = all.filter((x) => matchesPattern(r.repositories, x.name)).map((x) => x.id);
    out.push({ ...r, used: await state.namespaceBytes(ids) });
  }
  return out;
}
