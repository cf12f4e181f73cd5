// Where the program lives, and whether it runs from a source checkout (which decides defaults
// such as the data dir). Works both from dist/ (compiled) and src/ (tests run the TS directly).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(start: string): string {
  let dir = start;
  while (dir !== dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new Error(`package.json not found above ${start}`);
}

export const PACKAGE_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));
export const IS_CHECKOUT = existsSync(join(PACKAGE_ROOT, '.git'));
export const PROTO_DIR = join(PACKAGE_ROOT, 'proto');

export const PACKAGE_VERSION: string = (
  JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }
).version;

/** The BuildKit release this product installs and builds with (DESIGN.md). */
export const BUILDKIT_VERSION = 'v0.16.0';

/**
 * The commit a checkout is at (7 hex digits, like `git rev-parse --short`), read from .git without running git; 'unknown'
 * when installed or when .git cannot be read. Handles worktrees (.git as a file) and packed refs.
 */
export function gitCommit(root: string = PACKAGE_ROOT): string {
  try {
    let gitDir = join(root, '.git');
    if (statSync(gitDir).isFile()) {
      const m = /^gitdir:\s*(.+)$/m.exec(readFileSync(gitDir, 'utf8'));
      if (!m) return 'unknown';
      gitDir = isAbsolute(m[1] as string) ? (m[1] as string) : join(root, m[1] as string);
    }
    const common = existsSync(join(gitDir, 'commondir'))
      ? join(gitDir, readFileSync(join(gitDir, 'commondir'), 'utf8').trim())
      : gitDir;
    const head = readFileSync(join(gitDir, 'HEAD'), 'utf8').trim();
    const ref = /^ref:\s*(.+)$/.exec(head)?.[1];
    let sha = ref ? undefined : head;
    if (ref) {
      for (const dir of [gitDir, common]) {
        if (existsSync(join(dir, ref))) {
          sha = readFileSync(join(dir, ref), 'utf8').trim();
          break;
        }
      }
      if (!sha && existsSync(join(common, 'packed-refs'))) {
        const line = readFileSync(join(common, 'packed-refs'), 'utf8')
          .split('\n')
          .find((l) => l.endsWith(` ${ref}`));
        sha = line?.split(' ')[0];
      }
    }
    return sha && /^[0-9a-f]{40,64}$/.test(sha) ? sha.slice(0, 7) : 'unknown';
  } catch {
    return 'unknown';
  }
}
