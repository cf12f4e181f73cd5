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

/**
 * Whether every repository `pattern` matches is matched by `grant` too. Each wildcard of
 * `pattern` is tried with what it can stand for at its narrowest and widest (`*`: nothing, one
 * name; `**`: nothing, one name, several levels): for the prefix and suffix shapes grants have
 * (`team/*`, `team/**`, `*`, `**`, `team/app`) that decides it.
 */
export function patternCovers(grant: string, pattern: string): boolean {
  if (grant === pattern || grant === '**') return true;
  let samples = [''];
  for (const part of pattern.split(/(\*\*|\*)/)) {
    const options = part === '**' ? ['', 'x', 'x/y/z'] : part === '*' ? ['', 'x'] : [part];
    samples = samples.flatMap((s) => options.map((o) => s + o));
  }
  return samples.every((s) => matchesPattern(grant, s));
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
