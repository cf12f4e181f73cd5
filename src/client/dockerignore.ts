// .dockerignore as the Docker CLI reads it: one pattern per line, `#` comments and blank lines
// skipped, a leading `!` makes an exception, each pattern cleaned (`./a/../b` is `b`, a leading
// `/` dropped). Patterns are Go filepath.Match globs over '/'-separated paths relative to the
// context (`*` and `?` stop at '/', `[a-z]` and `[^a-z]` classes, `\` escapes) plus `**`, which
// spans any number of directories. A pattern that matches a directory excludes all below it; the
// last pattern that matches a path decides.
import { posix } from 'node:path';

export interface IgnorePattern {
  /** The cleaned pattern, as written after `!`. */
  text: string;
  exception: boolean;
  regexp: RegExp;
}

/** The pattern cleaned as Go's filepath.Clean would, without a leading '/'. */
function clean(pattern: string): string {
  const c = posix.normalize(pattern).replace(/\/+$/, '');
  const relative = c.startsWith('/') ? c.replace(/^\/+/, '') : c;
  return relative === '' ? '.' : relative;
}

/** A glob as an anchored regular expression. */
export function globToRegExp(glob: string): RegExp {
  let out = '^';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        i++;
        if (glob[i + 1] === '/') {
          i++;
          out += '(?:.*/)?'; // `**/`: no directory, or any number of them
        } else out += '.*';
      } else out += '[^/]*';
    } else if (c === '?') out += '[^/]';
    else if (c === '\\' && i + 1 < glob.length) out += escape(glob[++i] as string);
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) {
        out += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, end);
      if (body.startsWith('^') || body.startsWith('!')) body = `^${body.slice(1)}`;
      out += `[${body}]`;
      i = end;
    } else out += escape(c);
  }
  return new RegExp(`${out}$`, 's');
}

const escape = (c: string) => c.replace(/[.*?+^${}()|[\]\\/]/g, '\\$&');

export function parseDockerignore(text: string): IgnorePattern[] {
  const patterns: IgnorePattern[] = [];
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const exception = line.startsWith('!');
    if (exception) line = line.slice(1).trim();
    if (line === '') continue;
    const text = clean(line);
    patterns.push({ text, exception, regexp: globToRegExp(text) });
  }
  return patterns;
}

/** Whether `pattern` matches `path` or one of the directories above it. */
function matchesOrParent(pattern: IgnorePattern, path: string): boolean {
  if (pattern.regexp.test(path)) return true;
  const parts = path.split('/');
  for (let i = 1; i < parts.length; i++) if (pattern.regexp.test(parts.slice(0, i).join('/'))) return true;
  return false;
}

/** Whether `path` (relative, '/'-separated) is left out of the context. */
export function isIgnored(patterns: IgnorePattern[], path: string): boolean {
  let ignored = false;
  for (const p of patterns) if (matchesOrParent(p, path)) ignored = !p.exception;
  return ignored;
}

/**
 * Whether an exception may bring back something inside the ignored directory `dir`: its literal
 * start (up to the first wildcard) runs along `dir/` or stops before its end.
 */
export function mayHoldExceptions(patterns: IgnorePattern[], dir: string): boolean {
  return patterns.some((p) => {
    if (!p.exception) return false;
    const literal = p.text.split(/[*?[\\]/)[0] as string;
    return literal.length <= dir.length + 1 ? `${dir}/`.startsWith(literal) : literal.startsWith(`${dir}/`);
  });
}
