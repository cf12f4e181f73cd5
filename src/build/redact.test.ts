import { describe, expect, it } from 'vitest';
import { Redactor } from './redact.js';

describe('Redactor', () => {
  it('masks every occurrence in a whole text, the longest secret first', () => {
    const r = new Redactor(['hunter22', 'hunter22-extended', 'abc']);
    expect(r.redact('a hunter22 b hunter22-extended c abc')).toBe('a *** b *** c abc');
  });

  it('masks a secret split across chunks and shows the rest at once', () => {
    const r = new Redactor(['s3cr3t-value']);
    const shown = [r.push('k', 'token is s3cr'), r.push('k', '3t-value, done\n')];
    expect(shown).toEqual(['token is ', '***, done\n']);
    expect(r.holding()).toEqual([]);
  });

  it('releases a held tail once it can no longer become a secret', () => {
    const r = new Redactor(['s3cr3t-value']);
    expect(r.push('k', 'prefix s3c')).toBe('prefix ');
    expect(r.push('k', 'ond line\n')).toBe('s3cond line\n');
  });

  it('keeps streams apart and flushes what a stream still holds, masked', () => {
    const r = new Redactor(['s3cr3t-value']);
    expect(r.push('a', 'x s3cr')).toBe('x ');
    expect(r.push('b', '3t-value')).toBe('3t-value');
    expect(r.holding()).toEqual(['a']);
    expect(r.flush('a')).toBe('s3cr');
    expect(r.flush('a')).toBe('');
  });

  it('handles a secret cut into single characters', () => {
    const r = new Redactor(['p@ssw0rd']);
    const out = [...'say p@ssw0rd!'].map((c) => r.push('k', c)).join('') + r.flush('k');
    expect(out).toBe('say ***!');
  });

  it('does nothing without secrets of 4 characters or more', () => {
    const r = new Redactor(['abc', '']);
    expect(r.active).toBe(false);
    expect(r.push('k', 'abc')).toBe('abc');
  });
});
