// The shape of a tree being extracted from an archive, kept in memory: which paths are
// directories, regular files and symlinks (with their targets). It resolves each symlink the way
// the kernel would walk it (component by component, following links met on the way, links
// through links, ".." taken physically from where the walk is), so an extractor can refuse a
// link that leaves the tree before any link exists on disk. A link judged by its text alone is
// not enough: `d1/up -> ..` and `esc2 -> d1/up/../..` both look inside, yet esc2 is the parent of
// the tree. Paths here are relative to the tree's root ('' is the root), already tidy (no '',
// '.' or '..' segments).

export type NodeKind = 'dir' | 'file' | 'symlink';

/** Linux's MAXSYMLINKS: a walk that follows more links than this fails with ELOOP. */
export const MAX_LINK_FOLLOWS = 40;

/** A symlink whose resolution leaves the tree, or that never resolves (a loop). */
export class LinkResolutionError extends Error {
  constructor(
    /** The link being checked. */
    readonly link: string,
    readonly target: string,
    readonly reason: 'leaves' | 'loops',
    /** Another link met on the way, where the walk left the tree or looped (undefined: this one). */
    readonly via?: { link: string; target: string },
  ) {
    const through = via ? ` (through symlink "${via.link}" -> "${via.target}")` : '';
    super(
      reason === 'leaves'
        ? `symlink "${link}" -> "${target}" leaves the context${through}`
        : `symlink "${link}" -> "${target}" does not resolve: a loop, or more than ${MAX_LINK_FOLLOWS} links on the way${through}`,
    );
  }
}

/** Where a walk failed: the link whose own target went wrong. */
class WalkFailure {
  constructor(
    readonly link: string,
    readonly reason: 'leaves' | 'loops',
  ) {}
}

/** Where a link leads (a path in the tree) and how many links the kernel follows to get there. */
interface Resolved {
  at: string;
  follows: number;
}

const parentOf = (path: string) => {
  const slash = path.lastIndexOf('/');
  return slash === -1 ? '' : path.slice(0, slash);
};

export class LinkTree {
  private readonly nodes = new Map<string, { kind: NodeKind; target?: string }>([['', { kind: 'dir' }]]);
  private readonly links: string[] = [];

  /** Records a node; a symlink with its target, as stored in the archive. */
  add(path: string, kind: 'dir' | 'file'): void;
  add(path: string, kind: 'symlink', target: string): void;
  add(path: string, kind: NodeKind, target?: string): void {
    this.nodes.set(path, kind === 'symlink' ? { kind, target: target as string } : { kind });
    if (kind === 'symlink') this.links.push(path);
  }

  kind(path: string): NodeKind | undefined {
    return this.nodes.get(path)?.kind;
  }

  /** The nearest ancestor of path (the root excluded) that is not a directory: writing there would go through it. */
  blockingAncestor(path: string): { path: string; kind: NodeKind } | undefined {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const p = parts.slice(0, i).join('/');
      const kind = this.kind(p);
      if (kind !== undefined && kind !== 'dir') return { path: p, kind };
    }
    return undefined;
  }

  /** The symlinks in the order they were added. */
  symlinks(): { path: string; target: string }[] {
    return this.links.map((path) => ({ path, target: this.nodes.get(path)?.target as string }));
  }

  /**
   * Resolves every symlink against the tree as it now stands; throws LinkResolutionError for the
   * first (in the order they were added) that leaves the tree or does not resolve. A component
   * that does not exist, or a file met where a directory is needed, is passed through by name:
   * the kernel would stop there, so treating it as a plain name can only refuse more, never less.
   */
  checkLinks(): void {
    const memo = new Map<string, Resolved | null>(); // null: being resolved (met again: a loop)
    for (const link of this.links) {
      try {
        this.resolveLink(link, memo);
      } catch (err) {
        if (!(err instanceof WalkFailure)) throw err;
        const target = this.nodes.get(link)?.target as string;
        const via =
          err.link === link
            ? undefined
            : { link: err.link, target: this.nodes.get(err.link)?.target as string };
        throw new LinkResolutionError(link, target, err.reason, via);
      }
    }
  }

  /** depth: links being resolved around this one (bounds the recursion however long a chain is). */
  private resolveLink(link: string, memo: Map<string, Resolved | null>, depth = 1): Resolved {
    const known = memo.get(link);
    if (known) return known;
    if (known === null || depth > MAX_LINK_FOLLOWS) throw new WalkFailure(link, 'loops');
    memo.set(link, null);
    const target = this.nodes.get(link)?.target as string;
    if (target.startsWith('/')) throw new WalkFailure(link, 'leaves'); // the host's root, not the tree's
    let at = parentOf(link);
    let follows = 1;
    for (const c of target.split('/')) {
      if (c === '' || c === '.') continue;
      if (c === '..') {
        if (at === '') throw new WalkFailure(link, 'leaves');
        at = parentOf(at);
        continue;
      }
      const next = at === '' ? c : `${at}/${c}`;
      if (this.kind(next) === 'symlink') {
        const r = this.resolveLink(next, memo, depth + 1);
        follows += r.follows;
        at = r.at;
      } else {
        at = next;
      }
      if (follows > MAX_LINK_FOLLOWS) throw new WalkFailure(link, 'loops');
    }
    const resolved = { at, follows };
    memo.set(link, resolved);
    return resolved;
  }
}
