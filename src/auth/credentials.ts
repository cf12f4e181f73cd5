// Who is asking: the Authorization header turned into a principal. Basic carries a password or
// an API token (as the password); Bearer carries an API token (oc_…) or a registry token, which
// the registry checks itself. A verified Basic password is remembered for a few seconds, so
// clients that send it on every blob request do not pay scrypt each time; each use of the
// remembered password still reads the user's stored hash (one primary-key lookup), so a password
// changed or a user deleted — also by `opencloud users` in another process — stops working at
// once. An API token is cheap to check and is checked every time, so revoking one takes effect
// at once. Failed guesses are limited per user name and address and per address (see attempts.ts);
// a name that does not exist costs the same scrypt as one that does.
import { createHash } from 'node:crypto';
import { AttemptLimiter, clientNetwork } from './attempts.js';
import { dummyHash } from './passwords.js';
import type { AuthStore, PasswordRecord, Principal } from './store.js';

export type Credentials = { kind: 'basic'; user: string; secret: string } | { kind: 'bearer'; token: string };

/** The answer to an Authorization header that is neither Basic user:secret nor Bearer TOKEN:
 *  refused as such, never taken for "no credentials" (which would sign the caller in anonymously). */
export const MALFORMED_AUTHORIZATION =
  'the Authorization header is malformed: expected "Basic base64(user:password)" or "Bearer TOKEN"';

export function parseAuthorization(header: string | undefined): Credentials | undefined {
  if (!header) return undefined;
  // Read on every registry request: one search, no array, no regular expression.
  const space = header.indexOf(' ');
  if (space < 0) return undefined;
  const scheme = header.slice(0, space).toLowerCase();
  const rest = header.slice(space + 1);
  const next = rest.indexOf(' ');
  const value = next < 0 ? rest : rest.slice(0, next);
  if (!value) return undefined;
  if (scheme === 'basic') {
    const text = Buffer.from(value, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon < 0) return undefined;
    return { kind: 'basic', user: text.slice(0, colon), secret: text.slice(colon + 1) };
  }
  if (scheme === 'bearer') return { kind: 'bearer', token: value.trim() };
  return undefined;
}

export class TooManyAttempts extends Error {}

/** Failed sign-ins allowed for one user name from one address (network) within the window. */
export const FAILURES_PER_NAME = 5;
/**
 * Failed sign-ins allowed from one address (network) across all names within the window: a
 * guesser trying many names gets few more tries than one trying one name, while a few people
 * behind one NAT mistyping their passwords stay well below it.
 */
export const FAILURES_PER_ADDRESS = 20;
const WINDOW_MS = 5 * 60_000;
// Short, and checked against the stored hash on every use (see the header).
const CACHE_MS = 10_000;

/** Told when a name or an address becomes locked (for the audit trail). */
export interface Lockout {
  scope: 'name' | 'address';
  /** The user name tried (scope "name"). */
  user?: string;
  address: string;
  failures: number;
  until: Date;
}

export interface AuthenticatorOptions {
  onLockout?: (lockout: Lockout) => void;
  failuresPerName?: number;
  failuresPerAddress?: number;
  windowMs?: number;
}

type Outcome = { principal: Principal; record?: PasswordRecord } | undefined;

export class Authenticator {
  private readonly verified = new Map<string, { hash: string; until: number }>();
  /** Checks under way, by credentials: the same credentials sent in parallel are checked once. */
  private readonly pending = new Map<string, Promise<Outcome>>();
  private readonly byName: AttemptLimiter;
  private readonly byAddress: AttemptLimiter;

  constructor(
    readonly store: AuthStore,
    private readonly opts: AuthenticatorOptions = {},
  ) {
    const windowMs = opts.windowMs ?? WINDOW_MS;
    this.byName = new AttemptLimiter(opts.failuresPerName ?? FAILURES_PER_NAME, windowMs);
    this.byAddress = new AttemptLimiter(opts.failuresPerAddress ?? FAILURES_PER_ADDRESS, windowMs);
    // Made now, so the first unknown name does not pay for making it (a timing tell).
    dummyHash().catch(() => undefined);
  }

  /** Refuses while the name (from this address) or the address is locked. */
  private refuseIfLocked(user: string, nameKey: string, network: string, from: string): void {
    const name = this.byName.lockedFor(nameKey);
    if (name > 0) {
      throw new TooManyAttempts(
        `too many failed sign-ins for ${user} from ${from}; try again in ${Math.ceil(name / 1000)} s`,
      );
    }
    const address = this.byAddress.lockedFor(network);
    if (address > 0) {
      throw new TooManyAttempts(
        `too many failed sign-ins from ${from}; try again in ${Math.ceil(address / 1000)} s`,
      );
    }
  }

  /** The principal for Basic credentials (a password or an API token); undefined if wrong. */
  async basic(user: string, secret: string, from: string): Promise<Principal | undefined> {
    const network = clientNetwork(from);
    const nameKey = `${network}\0${user}`;
    // Throttling comes first: while it lasts, even the right password (or a cached one) is refused.
    this.refuseIfLocked(user, nameKey, network, from);
    // An API token is looked up every time (one indexed row and a SHA-256, no scrypt), so a
    // revoked or expired token stops working on the very next request, even one revoked by
    // `opencloud users token revoke` under the running server. Only passwords are cached.
    const isToken = secret.startsWith('oc_');
    const key = createHash('sha256').update(`${user}\0${secret}`).digest('hex');
    // Read for known and unknown names alike (one primary-key lookup).
    const record = isToken ? undefined : await this.store.passwordRecord(user);
    // From here to the reservation nothing waits: the checks and the reservation are one step.
    this.refuseIfLocked(user, nameKey, network, from);
    const hit = this.verified.get(key);
    if (hit && hit.until > Date.now() && record && hit.hash === record.passwordHash) {
      this.byName.clear(nameKey);
      return { kind: 'user', name: record.name, admin: record.admin };
    }
    if (hit) this.verified.delete(key);
    let check = this.pending.get(key);
    if (!check) {
      if (this.byName.full(nameKey) || this.byAddress.full(network)) {
        throw new TooManyAttempts(
          `too many sign-ins for ${user} from ${from} failed or under way; try again shortly`,
        );
      }
      this.byName.reserve(nameKey);
      this.byAddress.reserve(network);
      check = this.attempt(user, secret, isToken, record, nameKey, network, from);
      this.pending.set(key, check);
      const settled = check;
      void settled
        .finally(() => {
          if (this.pending.get(key) === settled) this.pending.delete(key);
        })
        .catch(() => undefined);
    }
    const outcome = await check;
    if (!outcome) return undefined;
    if (outcome.record) {
      if (this.verified.size >= 10_000) this.verified.clear();
      this.verified.set(key, { hash: outcome.record.passwordHash, until: Date.now() + CACHE_MS });
    }
    return outcome.principal;
  }

  /** One reserved attempt: checks the secret, then counts a failure or clears the name's. */
  private async attempt(
    user: string,
    secret: string,
    isToken: boolean,
    record: PasswordRecord | undefined,
    nameKey: string,
    network: string,
    from: string,
  ): Promise<Outcome> {
    let outcome: Outcome;
    try {
      if (isToken) {
        const p = await this.store.checkToken(secret);
        outcome = p && p.name === user ? { principal: p } : undefined;
      } else {
        const p = await this.store.verify(record, secret);
        outcome = p && record ? { principal: p, record } : undefined;
      }
    } catch (err) {
      // Not a wrong guess (the database failed): the attempt is released, not counted.
      this.byName.settle(nameKey, false);
      this.byAddress.settle(network, false);
      throw err;
    }
    const failed = outcome === undefined;
    const now = Date.now();
    if (this.byName.settle(nameKey, failed, now)) this.locked('name', user, from, this.byName.limit, now);
    if (this.byAddress.settle(network, failed, now))
      this.locked('address', undefined, from, this.byAddress.limit, now);
    if (!failed) this.byName.clear(nameKey);
    return outcome;
  }

  private locked(
    scope: Lockout['scope'],
    user: string | undefined,
    address: string,
    failures: number,
    now: number,
  ) {
    try {
      this.opts.onLockout?.({
        scope,
        ...(user === undefined ? {} : { user }),
        address,
        failures,
        until: new Date(now + this.byName.windowMs),
      });
    } catch {
      // A listener's failure never turns into a sign-in's.
    }
  }

  /** Forgets cached sign-ins (after a password change, a token revocation, a user deletion). */
  forget(): void {
    this.verified.clear();
  }
}
