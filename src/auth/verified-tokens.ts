// Registry bearer tokens already verified, by their exact text. A client sends the same token on
// every request for its five minutes; checking its signature again (HMAC over the token, two
// base64 decodes, two JSON parses) was a third of what authentication added to a HEAD blob. A
// token is kept only after it verified, expiry is checked on every use, and what the claims do
// not say (revoked API tokens, changed passwords) is still asked of the database by the caller.
// The claims are frozen: requests share them.
import { deepFreeze } from '../lib/deep-freeze.js';
import { verifyToken, type RegistryClaims } from './jwt.js';

const MAX_TOKENS = 10_000;

export class VerifiedTokens {
  private readonly seen = new Map<string, Readonly<RegistryClaims>>();

  constructor(
    private readonly key: Buffer,
    private readonly audience: string,
    private readonly max = MAX_TOKENS,
  ) {}

  /** The claims of a valid, unexpired token; undefined otherwise. */
  verify(token: string, now = Date.now()): Readonly<RegistryClaims> | undefined {
    const hit = this.seen.get(token);
    if (hit) {
      if (hit.exp * 1000 > now) return hit;
      this.seen.delete(token);
      return undefined;
    }
    const claims = verifyToken(token, this.key, this.audience, now);
    if (!claims) return undefined;
    this.seen.set(token, deepFreeze(claims));
    // Oldest first out: at this size an evicted token is just verified again.
    if (this.seen.size > this.max) this.seen.delete(this.seen.keys().next().value as string);
    return claims;
  }
}
