import { describe, expect, it } from 'vitest';
import { redactUrl } from './log-redaction.js';

describe('redactUrl', () => {
  it('keeps a build argument name and drops its value', () => {
    expect(redactUrl('/api/v1/builds?repository=a%2Fb&buildArg=NPM_TOKEN=s3cret')).toBe(
      '/api/v1/builds?repository=a%2Fb&buildArg=NPM_TOKEN=***',
    );
  });
  it('finds encoded names and values on any path', () => {
    const out = redactUrl('/api/v1/%62uilds?build%41rg=K%3Ds3cret&password=p%40ss&Token=t');
    expect(out).not.toMatch(/s3cret|p%40ss|p@ss|=t(&|$)/);
    expect(out).toContain('buildArg=K=***');
  });
  it('leaves URLs without secret parameters exactly as they were', () => {
    for (const url of ['/v2/a/b/tags/list?n=10&last=x%2Fy', '/healthz', '/api/v1/builds?state=failed'])
      expect(redactUrl(url)).toBe(url);
  });
});
