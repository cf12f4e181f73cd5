// Who is asking: the Authorization header turned into a principal. Basic carries a password or
// an API token (as the password); Bearer carries an API token (oc_…) or a registry token, which
// the registry checks itself. A verified Basic password is remembered for a few seconds, so
// clients that send it on every blob request do not pay scrypt each time; an API token is cheap
// to check and is checked every time, so revoking one takes effect at once. Failed guesses are
// throttled.
import { createHash } from 'node:crypto';
import type { AuthStore, Principal } from './store.js';

export type Credentials = { kind: 'basic'; user: string; secret: string } | { kind: 'bearer'; token: string };

/** The answer to an Authorization header that is neither Basic user:secret nor Bearer TOKEN:
 *  refused as such, never taken for "no credentials" (which would sign the caller in anonymously). */
export const MALFORMED_AUTHORIZATION =
  'the Authorization header is malformed: expected "Basic base64(user:password)" or "Bearer TOKEN"';

export function parseAuthorization(header: string | undefined): Credentials | undefined {
  if (!header) return undefined;
  const [scheme, value] = header.split(' ', 2) as [string, string | undefined];
  if (!value) return undefined;
  if (/^basic$/i.test(scheme)) {
    const text = Buffer.from(value, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon < 0) return undefined;
    return { kind: 'basic', user: text.slice(0, colon), secret: text.slice(colon + 1) };
  }
  if (/^bearer$/i.test(scheme)) return { kind: 'bearer', token: value.trim() };
  return undefined;
}

export class TooManyAttempts extends Error {}

const FAILURES_ALLOWED = 5;
const WINDOW_MS = 5 * 60_000;
// Short, because `opencloud users` changes the database under a running server.
const CACHE_MS = 10_000;

export class Authenticator {
  private readonly verified = new Map<string, { principal: Principal; until: number }>();
  private readonly failures = new Map<string, { count: number; since: number }>();

  constructor(readonly store: AuthStore) {}

  /** The principal for Basic credentials (a password or an API token); undefined if wrong. */
  async basic(user: string, secret: string, from: string): Promise<Principal | undefined> {
    // Throttling comes first: while it lasts, even the right password (or a cached one) is refused.
    const throttleKey = `${from}\0${user}`;
    const f = this.failures.get(throttleKey);
    if (f && f.count >= FAILURES_ALLOWED && Date.now() - f.since < WINDOW_MS) {
      throw new TooManyAttempts(`too many failed sign-ins for ${user} from ${from}; wait a few minutes`);
    }
    // An API token is looked up every time (one indexed row and a SHA-256, no scrypt), so a
    // revoked or expired token stops working on the very next request, even one revoked by
    // `opencloud users token revoke` under the running server. Only passwords are cached.
    const isToken = secret.startsWith('oc_');
    const key = createHash('sha256').update(`${user}\0${secret}`).digest('hex');
    const hit = isToken ? undefined : this.verified.get(key);
    if (hit && hit.until > Date.now()) return hit.principal;
    const principal = isToken
      ? await this.store.checkToken(secret).then((p) => (p && p.name === user ? p : undefined))
      : await this.store.checkPassword(user, secret);
    if (!principal) {
      const fresh = !f || Date.now() - f.since >= WINDOW_MS;
      this.failures.set(throttleKey, {
        count: fresh ? 1 : (f as { count: number }).count + 1,
        since: fresh ? Date.now() : (f as { since: number }).since,
      });
      return undefined;
    }
    this.failures.delete(throttleKey);
    if (isToken) return principal;
    if (this.verified.size > 10_000) this.verified.clear();
    this.verified.set(key, { principal, until: Date.now() + CACHE_MS });
    return principal;
  }

  /** Forgets cached sign-ins (after a password change, a token revocation, a user deletion). */
  forget(): void {
    this.verified.clear();
  }
}
