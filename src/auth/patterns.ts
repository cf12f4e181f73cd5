// Repository patterns in grants: `team/*` matches one path segment (team/app, not team/a/b),
// `team/**` any depth, `*` alone every top-level name, `**` everything; no wildcard: exact.
export function matchesPattern(pattern: string, repository: string): boolean {
  const re = pattern
    .split(/(\*\*|\*)/)
    .map((part) =>
      part === '**' ? '.*' : part === '*' ? '[^/]*' : part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'),
    )
    .join('');
  return new RegExp(`^${re}$`).test(repository);
}

export const ACTIONS = ['pull', 'push', 'delete', 'build'] as const;
export type Action = (typeof ACTIONS)[number];

export function parseActions(text: string): Action[] {
  const list = text
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  for (const a of list) {
    if (!(ACTIONS as readonly string[]).includes(a)) {
      throw new Error(`"${a}" is not an action; actions: ${ACTIONS.join(', ')}`);
    }
  }
  return list as Action[];
}
