import { describe, expect, it } from 'vitest';
import { isIgnored, mayHoldExceptions, parseDockerignore } from './dockerignore.js';

const ignored = (rules: string, path: string) => isIgnored(parseDockerignore(rules), path);

describe('.dockerignore', () => {
  it('a name excludes the file or the directory and everything below it', () => {
    expect(ignored('node_modules', 'node_modules')).toBe(true);
    expect(ignored('node_modules', 'node_modules/a/b.js')).toBe(true);
    expect(ignored('node_modules', 'src/node_modules')).toBe(false);
    expect(ignored('node_modules', 'node_modules_x')).toBe(false);
  });

  it('* and ? stay within one directory; ** spans any number', () => {
    expect(ignored('*.log', 'a.log')).toBe(true);
    expect(ignored('*.log', 'dir/a.log')).toBe(false);
    expect(ignored('*/*.log', 'dir/a.log')).toBe(true);
    expect(ignored('**/*.log', 'a.log')).toBe(true);
    expect(ignored('**/*.log', 'x/y/z/a.log')).toBe(true);
    expect(ignored('a/**/b', 'a/b')).toBe(true);
    expect(ignored('a/**/b', 'a/x/y/b')).toBe(true);
    expect(ignored('a/**', 'a/x/y')).toBe(true);
    expect(ignored('temp?', 'temp1')).toBe(true);
    expect(ignored('temp?', 'temp12')).toBe(false);
    expect(ignored('temp?', 'temp/')).toBe(false);
  });

  it('character classes, negated ones, escapes and literal dots', () => {
    expect(ignored('[a-c].txt', 'b.txt')).toBe(true);
    expect(ignored('[a-c].txt', 'd.txt')).toBe(false);
    expect(ignored('[^a-c].txt', 'd.txt')).toBe(true);
    expect(ignored('[!a-c].txt', 'a.txt')).toBe(false);
    expect(ignored('a.txt', 'abtxt')).toBe(false);
    expect(ignored('\\*.txt', '*.txt')).toBe(true);
    expect(ignored('\\*.txt', 'a.txt')).toBe(false);
    expect(ignored('(x)+', '(x)+')).toBe(true);
  });

  it('patterns are cleaned: a leading / or ./, .. segments, trailing slashes', () => {
    expect(ignored('/secret', 'secret')).toBe(true);
    expect(ignored('./secret/', 'secret/key')).toBe(true);
    expect(ignored('build/../dist', 'dist/app.js')).toBe(true);
    expect(ignored('build/../dist', 'build')).toBe(false);
  });

  it('the last matching pattern decides; an exception brings a file back', () => {
    const rules = '# logs\n*.log\n\n!keep.log\n  docs  \n!docs/README.md\n';
    expect(ignored(rules, 'a.log')).toBe(true);
    expect(ignored(rules, 'keep.log')).toBe(false);
    expect(ignored(rules, 'docs/other.md')).toBe(true);
    expect(ignored(rules, 'docs/README.md')).toBe(false);
    expect(ignored('!a\na', 'a')).toBe(true);
    const patterns = parseDockerignore(rules);
    expect(mayHoldExceptions(patterns, 'docs')).toBe(true);
    expect(mayHoldExceptions(patterns, 'node_modules')).toBe(false);
    expect(mayHoldExceptions(parseDockerignore('x\n!**/keep'), 'x')).toBe(true);
  });
});
