// Symlinks resolved the way the kernel walks them, inside an extracted tree: the links a text
// check passes but a walk shows leaving the tree (through other links, ".." taken from where the
// walk is), absolute targets, loops and chains longer than Linux follows, and the links that stay
// inside (dangling ones included). Each case is checked against the real kernel too: the same tree
// made on disk, its links resolved by realpath.
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LinkResolutionError, LinkTree, MAX_LINK_FOLLOWS } from './link-tree.js';

type Entry = [path: string, kind: 'dir' | 'file'] | [path: string, kind: 'symlink', target: string];

let base: string; // holds root/, the tree, and a sibling outside it
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'opencloud-link-tree-'));
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

function treeOf(entries: Entry[]): LinkTree {
  const t = new LinkTree();
  for (const e of entries) {
    if (e[1] === 'symlink') t.add(e[0], 'symlink', e[2]);
    else t.add(e[0], e[1]);
  }
  return t;
}

/** The same tree on disk under base/root; where the kernel resolves `link` (undefined: it fails). */
function kernel(entries: Entry[], link: string): string | undefined {
  const root = join(base, 'root');
  mkdirSync(root, { recursive: true });
  for (const e of entries) {
    const at = join(root, e[0]);
    mkdirSync(dirname(at), { recursive: true });
    if (e[1] === 'dir') mkdirSync(at, { recursive: true });
    else if (e[1] === 'file') writeFileSync(at, 'x');
    else symlinkSync(e[2] as string, at);
  }
  try {
    return realpathSync.native(join(root, link)); // the kernel's own walk (Node's JS realpath is lexical)
  } catch {
    return undefined;
  }
}

const refusal = (entries: Entry[]) => {
  try {
    treeOf(entries).checkLinks();
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(LinkResolutionError);
    return (err as Error).message;
  }
};

describe('LinkTree.checkLinks', () => {
  it('refuses d1/up -> .. with esc2 -> d1/up/../..: its text stays inside, the kernel leaves the tree', () => {
    const entries: Entry[] = [
      ['d1', 'dir'],
      ['d1/up', 'symlink', '..'],
      ['esc2', 'symlink', 'd1/up/../..'],
    ];
    // the real escape: the parent of the tree's parent (for a context: the data dir)
    expect(kernel(entries, 'esc2')).toBe(dirname(realpathSync(base)));
    expect(refusal(entries)).toBe('symlink "esc2" -> "d1/up/../.." leaves the context');
  });

  it.each<[string, Entry[], string]>([
    ['an absolute target', [['abs', 'symlink', '/etc']], 'symlink "abs" -> "/etc" leaves the context'],
    [
      'a plain ../',
      [
        ['d', 'dir'],
        ['d/x', 'symlink', '../../etc'],
      ],
      'symlink "d/x" -> "../../etc" leaves the context',
    ],
    [
      'a link through a link that leads to the root',
      [
        ['d1', 'dir'],
        ['d1/up', 'symlink', '..'],
        ['l1', 'symlink', 'd1/up'],
        ['l2', 'symlink', 'l1/..'],
      ],
      'symlink "l2" -> "l1/.." leaves the context',
    ],
    [
      'a link whose target holds a link that itself leaves',
      [
        ['x', 'symlink', 'd1/esc'],
        ['d1', 'dir'],
        ['d1/up', 'symlink', '..'],
        ['d1/esc', 'symlink', 'up/..'],
      ],
      'symlink "x" -> "d1/esc" leaves the context (through symlink "d1/esc" -> "up/..")',
    ],
    [
      'a link leading to an absolute one',
      [
        ['a', 'symlink', 'b/passwd'],
        ['b', 'symlink', '/etc'],
      ],
      'symlink "a" -> "b/passwd" leaves the context (through symlink "b" -> "/etc")',
    ],
  ])('refuses %s', (_what, entries, message) => {
    expect(refusal(entries)).toBe(message);
    const first = entries.find((e) => e[1] === 'symlink')?.[0] as string;
    const real = kernel(entries, first);
    // the kernel really leaves the tree (or ends outside it at a missing name)
    if (real !== undefined) expect(real.startsWith(join(realpathSync(base), 'root') + '/')).toBe(false);
  });

  it('refuses loops and chains longer than the kernel follows', () => {
    expect(
      refusal([
        ['a', 'symlink', 'b'],
        ['b', 'symlink', 'a'],
      ]),
    ).toBe('symlink "a" -> "b" does not resolve: a loop, or more than 40 links on the way');
    const chain = (n: number): Entry[] => [
      ['f', 'file'],
      ...Array.from({ length: n }, (_, i): Entry => [`c${i}`, 'symlink', i === n - 1 ? 'f' : `c${i + 1}`]),
    ];
    expect(refusal(chain(MAX_LINK_FOLLOWS))).toBeUndefined();
    expect(kernel(chain(MAX_LINK_FOLLOWS), 'c0')).toBe(join(realpathSync(base), 'root/f'));
    expect(refusal(chain(MAX_LINK_FOLLOWS + 1))).toMatch(/^symlink "c0" -> "c1" does not resolve/);
    rmSync(join(base, 'root'), { recursive: true });
    expect(kernel(chain(MAX_LINK_FOLLOWS + 1), 'c0')).toBeUndefined(); // ELOOP
  });

  it('handles a chain of 100000 links without deep recursion, quickly', () => {
    const t = new LinkTree();
    for (let i = 0; i < 100_000; i++) t.add(`c${i}`, 'symlink', `c${i + 1}`);
    const started = performance.now();
    expect(() => t.checkLinks()).toThrow('does not resolve');
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('accepts links that stay inside, dangling ones and links to links included', () => {
    const entries: Entry[] = [
      ['app', 'dir'],
      ['app/message.txt', 'file'],
      ['app/link.txt', 'symlink', 'message.txt'],
      ['app/docker', 'symlink', '../docker'], // dangling
      ['here', 'symlink', '.'],
      ['d1', 'dir'],
      ['d1/up', 'symlink', '..'],
      ['again', 'symlink', 'd1/up/d1/up/app/link.txt'],
      ['back', 'symlink', 'app/../app/./message.txt'],
    ];
    expect(refusal(entries)).toBeUndefined();
    expect(kernel(entries, 'again')).toBe(join(realpathSync(base), 'root/app/message.txt'));
  });

  it('names the first non-directory above a path', () => {
    const t = treeOf([
      ['d', 'dir'],
      ['d/l', 'symlink', '.'],
      ['f', 'file'],
    ]);
    expect(t.blockingAncestor('d/l/x/y')).toEqual({ path: 'd/l', kind: 'symlink' });
    expect(t.blockingAncestor('f/x')).toEqual({ path: 'f', kind: 'file' });
    expect(t.blockingAncestor('d/new/x')).toBeUndefined();
    expect(t.blockingAncestor('d/l')).toBeUndefined(); // the path itself is not above it
  });
});
