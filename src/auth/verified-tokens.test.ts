import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signToken, type RegistryClaims } from './jwt.js';
import { VerifiedTokens } from './verified-tokens.js';

describe('VerifiedTokens', () => {
  const key = randomBytes(32);
  const claims = (exp: number): RegistryClaims => ({
    iss: 'x',
    sub: 'alice',
    aud: 'svc',
    iat: 0,
    exp,
    access: [{ type: 'repository', name: 'a/b', actions: ['pull'] }],
  });

  it('accepts a good token and keeps its claims frozen, answering again without re-verifying', () => {
    const v = new VerifiedTokens(key, 'svc');
    const token = signToken(claims(100), key);
    const first = v.verify(token, 1000);
    expect(first?.sub).toBe('alice');
    expect(Object.isFrozen(first?.access[0]?.actions)).toBe(true);
    expect(v.verify(token, 2000)).toBe(first); // the same object: taken from memory
  });

  it('refuses a token once it expires, even one it verified before', () => {
    const v = new VerifiedTokens(key, 'svc');
    const token = signToken(claims(10), key);
    expect(v.verify(token, 9_999)).toBeDefined();
    expect(v.verify(token, 10_000)).toBeUndefined();
    expect(v.verify(token, 5_000)).toBeDefined(); // verified afresh, not remembered as bad
  });

  it('never keeps a token that fails: another key, another audience, a changed byte', () => {
    const v = new VerifiedTokens(key, 'svc');
    expect(v.verify(signToken(claims(100), randomBytes(32)), 0)).toBeUndefined();
    expect(new VerifiedTokens(key, 'other').verify(signToken(claims(100), key), 0)).toBeUndefined();
    const good = signToken(claims(100), key);
    // The second-to-last character carries six bits of the signature: any other one changes it.
    const bad = `${good.slice(0, -2)}${good.at(-2) === 'A' ? 'B' : 'A'}${good.slice(-1)}`;
    expect(v.verify(bad, 0)).toBeUndefined();
    expect(v.verify(good, 0)).toBeDefined();
  });

  it('holds at most `max` tokens', () => {
    const v = new VerifiedTokens(key, 'svc', 2);
    const tokens = [1, 2, 3].map((i) => signToken({ ...claims(100), iat: i }, key));
    const [a] = tokens.map((t) => v.verify(t, 0));
    expect(v.verify(tokens[0] as string, 0)).not.toBe(a); // evicted, verified again: a new object
    expect(v.verify(tokens[0] as string, 0)).toEqual(a);
  });
});
