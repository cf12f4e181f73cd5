import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import { targetsOf } from './build.js';

describe('opencloud build -t', () => {
  it('takes one repository with its tags, the host left out or this server’s', () => {
    expect(targetsOf(['team/app:1', 'team/app'], 'reg:5000')).toEqual({
      repository: 'team/app',
      tags: ['1', 'latest'],
    });
    expect(targetsOf(['reg:5000/team/app:2'], 'reg:5000')).toEqual({ repository: 'team/app', tags: ['2'] });
  });

  it('refuses no name, two repositories, another registry, a digest and a bad name', () => {
    expect(() => targetsOf([], 'reg:5000')).toThrow(/name the image/);
    expect(() => targetsOf(['a/b:1', 'a/c:1'], 'reg:5000')).toThrow(/one repository/);
    expect(() => targetsOf(['other.example/a:1'], 'reg:5000')).toThrow(
      /pushes to reg:5000, not other.example/,
    );
    expect(() => targetsOf([`a/b@sha256:${'0'.repeat(64)}`], 'reg:5000')).toThrow(/not a digest/);
    expect(() => targetsOf(['A/b:1'], 'reg:5000')).toThrow(UsageError);
  });
});
