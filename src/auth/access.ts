// What a principal may do on a repository: admins everything; others the union of their own
// grants and the anonymous ones whose pattern matches, narrowed by an API token's scopes.
import { ACTIONS, matchesPattern, type Action } from './patterns.js';
import type { AuthStore, Principal, Scope } from './store.js';

const union = (scopes: Scope[], repository: string) =>
  new Set(scopes.filter((s) => matchesPattern(s.pattern, repository)).flatMap((s) => s.actions));

export async function allowedActions(
  store: AuthStore,
  p: Principal,
  repository: string,
): Promise<Set<Action>> {
  return (await actionsOf(store, p))(repository);
}

/**
 * What `p` may do, as a function of the repository: the grants are read once, for lists that ask
 * about many repositories.
 */
export async function actionsOf(
  store: AuthStore,
  p: Principal,
): Promise<(repository: string) => Set<Action>> {
  const grants = p.admin ? [] : await grantsOf(store, p.kind === 'user' ? p.name : undefined);
  return (repository) => {
    const allowed = p.admin ? new Set<Action>(ACTIONS) : union(grants, repository);
    if (p.tokenScopes === undefined || p.tokenScopes === 'admin') return allowed;
    const scoped = union(p.tokenScopes, repository);
    return new Set([...allowed].filter((a) => scoped.has(a)));
  };
}

/** The grants that apply to a user (theirs and everyone's), or to anonymous callers (`undefined`). */
export function grantsOf(store: AuthStore, user: string | undefined): Promise<Scope[]> {
  return store.grantsFor(user === undefined ? ['anonymous'] : ['anonymous', `user:${user}`]);
}

/** Admin rights: an admin user, not through a token narrowed to repositories. */
export const isAdmin = (p: Principal) =>
  p.admin && (p.tokenScopes === undefined || p.tokenScopes === 'admin');
