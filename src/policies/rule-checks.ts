// What every kind of policy rule is checked for before it is stored: an object of the kind's
// keys only, a repository pattern as grants have them, expressions that compile and cannot blow
// up (safe-regex.ts), and one rule per pattern. Each refusal is a PolicyError whose message says
// which part and why (the API answers it as a 400, the CLI as a usage error).
import { checkPattern } from '../auth/store.js';
import { regexProblem } from './safe-regex.js';

/** A rule that cannot be stored: the message says which part and why. */
export class PolicyError extends Error {}

/** Long enough for any sensible expression; tags are at most 128 characters. */
export const MAX_REGEX = 256;

/**
 * `value` as a rule object with only `keys` and a valid `repositories` pattern. `name` and
 * `shape` say what it is in messages ("a quota", "{repositories, bytes}").
 */
export function ruleObject(
  value: unknown,
  name: string,
  shape: string,
  keys: readonly string[],
): Record<string, unknown> & { repositories: string } {
  const r = value as Record<string, unknown> | null;
  if (typeof r !== 'object' || r === null || Array.isArray(r))
    throw new PolicyError(`${name} is an object ${shape}`);
  const extra = Object.keys(r).filter((k) => !keys.includes(k));
  if (extra.length) throw new PolicyError(`${name} has no ${extra.join(', ')}`);
  if (typeof r.repositories !== 'string') throw new PolicyError('repositories must be a repository pattern');
  try {
    checkPattern(r.repositories);
  } catch (err) {
    throw new PolicyError((err as Error).message);
  }
  return r as Record<string, unknown> & { repositories: string };
}

/** The rule's regular expression `field`, checked to be one that is safe to run on any tag. */
export function ruleExpression(field: string, value: unknown): string {
  if (typeof value !== 'string' || value === '' || value.length > MAX_REGEX)
    throw new PolicyError(`${field} must be a regular expression of 1 to ${MAX_REGEX} characters`);
  const problem = regexProblem(value);
  if (problem) throw new PolicyError(`${field} ${JSON.stringify(value)} ${problem}`);
  return value;
}

/** The rules, each checked by `check`, refusing two for one pattern (`twins` says so). */
export function checkEach<R extends { repositories: string }>(
  values: unknown[],
  check: (value: unknown) => R,
  twins: (repositories: string) => string,
): R[] {
  const rules = values.map(check);
  const seen = new Set<string>();
  for (const r of rules) {
    if (seen.has(r.repositories)) throw new PolicyError(twins(r.repositories));
    seen.add(r.repositories);
  }
  return rules;
}
