// Users, grants and API tokens in the StateStore. Passwords are scrypt hashes; an API token is
// shown once (`oc_<id>_<secret>`) and stored as the sha256 of its secret (a 256-bit random
// secret needs no slow hash). Grants give a subject ("user:<name>" or "anonymous") actions on a
// repository pattern.
// Each user records when its password last changed, on a whole second: a registry token whose
// `iat` (whole seconds) is before it is refused, so a password change (or deleting the user) ends
// the user's registry tokens on their next use, also when `opencloud users` changes the database
// under a running server. A password change or deletion also ends the user's web sessions.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import { Precompiled } from '../state/precompiled.js';
import { ReadCache } from '../state/read-cache.js';
import { isUniqueViolation, type StateStore } from '../state/store.js';
import { dummyHash, hashPassword, verifyPassword } from './passwords.js';
import { parseActions, type Action } from './patterns.js';

export interface Scope {
  pattern: string;
  actions: Action[];
}

export interface Principal {
  kind: 'user' | 'anonymous';
  name: string;
  admin: boolean;
  /** An API token's scopes: the user's rights are narrowed to these. Undefined: not a token. */
  tokenScopes?: Scope[] | 'admin';
  /** The API token this principal signed in with, if any (registry tokens issued for it carry it,
   *  so revoking the API token ends them too). */
  tokenId?: string;
}

export const ANONYMOUS: Principal = { kind: 'anonymous', name: 'anonymous', admin: false };

export class AuthError extends Error {}

const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const now = () => new Date().toISOString();
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** What a password check needs of a user: one primary-key lookup. */
export interface PasswordRecord {
  name: string;
  admin: boolean;
  passwordHash: string;
}

export function checkUserName(name: string): void {
  // The subject of grants to everyone, and the subject of anonymous registry tokens.
  if (name === 'anonymous')
    throw new AuthError('"anonymous" is reserved: it stands for callers who do not sign in');
  if (!NAME.test(name)) {
    throw new AuthError(
      `"${name}" is not a user name (lowercase letters, digits, '.', '_', '-'; at most 64)`,
    );
  }
}

export function checkPattern(pattern: string): void {
  if (!/^[a-z0-9*][a-z0-9._\-/*]*$/.test(pattern) || pattern.includes('//')) {
    throw new AuthError(
      `"${pattern}" is not a repository pattern (a repository name, with * or ** as wildcards)`,
    );
  }
}

export class AuthStore {
  /** The two lookups every bearer-authenticated registry request makes, compiled once. */
  private readonly credentialsChanged: Precompiled<
    { name: string },
    { credentials_changed_at: string | null }
  >;
  private readonly tokenState: Precompiled<
    { id: string },
    { expires_at: string | null; revoked_at: string | null }
  >;

  /** Their answers, kept until the database is written (state/read-cache.ts). */
  private readonly credentialsCache: ReadCache<{ credentials_changed_at: string | null } | undefined>;
  private readonly tokenCache: ReadCache<
    { expires_at: string | null; revoked_at: string | null } | undefined
  >;

  constructor(private readonly state: StateStore) {
    const db = state.db;
    this.credentialsCache = new ReadCache(state.generation);
    this.tokenCache = new ReadCache(state.generation);
    this.credentialsChanged = new Precompiled(db as Kysely<unknown>, (slot) =>
      db.selectFrom('users').select('credentials_changed_at').where('name', '=', slot('name')),
    );
    this.tokenState = new Precompiled(db as Kysely<unknown>, (slot) =>
      db.selectFrom('api_tokens').select(['expires_at', 'revoked_at']).where('id', '=', slot('id')),
    );
  }

  private get db() {
    return this.state.db;
  }

  async userCount(): Promise<number> {
    const r = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  async addUser(name: string, password: string, admin: boolean): Promise<void> {
    checkUserName(name);
    if (password.length < 8) throw new AuthError('a password needs at least 8 characters');
    const exists = await this.db
      .selectFrom('users')
      .select('name')
      .where('name', '=', name)
      .executeTakeFirst();
    if (exists) throw new AuthError(`user ${name} already exists`);
    const password_hash = await hashPassword(password);
    try {
      await this.db
        .insertInto('users')
        .values({
          name,
          password_hash,
          admin: admin ? 1 : 0,
          created_at: now(),
          // This second: tokens of an earlier user of the same name, issued before it, are refused.
          credentials_changed_at: new Date(Math.floor(Date.now() / 1000) * 1000).toISOString(),
        })
        .execute();
    } catch (err) {
      // Added meanwhile by another request or node (on either backend's unique-violation code).
      if (isUniqueViolation(err)) throw new AuthError(`user ${name} already exists`);
      throw err;
    }
  }

  /**
   * Sets a new password; the user's web sessions and registry tokens end with the old one (API
   * tokens stay: they are revoked one by one). Registry tokens carry their issue time in whole
   * seconds, so the change is recorded as the next whole second and this returns once it has
   * come: every token issued before the change is older than it, and every token issued with
   * the new password after this returns is not.
   */
  async setPassword(name: string, password: string): Promise<void> {
    if (password.length < 8) throw new AuthError('a password needs at least 8 characters');
    const password_hash = await hashPassword(password);
    const second = Math.floor(Date.now() / 1000) * 1000 + 1000;
    await this.db.transaction().execute(async (trx) => {
      const r = await trx
        .updateTable('users')
        .set({ password_hash, credentials_changed_at: new Date(second).toISOString() })
        .where('name', '=', name)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) throw new AuthError(`no user ${name}`);
      await trx.deleteFrom('sessions').where('user_name', '=', name).execute();
    });
    await sleep(second - Date.now());
  }

  /** Deletes the user with its grants, API tokens and web sessions (its registry tokens then
   *  find no user and stop working). */
  async deleteUser(name: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('sessions').where('user_name', '=', name).execute();
      await trx.deleteFrom('api_tokens').where('user_name', '=', name).execute();
      await trx.deleteFrom('grants').where('subject', '=', `user:${name}`).execute();
      const r = await trx.deleteFrom('users').where('name', '=', name).executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) throw new AuthError(`no user ${name}`);
    });
  }

  async listUsers(): Promise<{ name: string; admin: boolean; createdAt: string; grants: Scope[] }[]> {
    const users = await this.db
      .selectFrom('users')
      .select(['name', 'admin', 'created_at'])
      .orderBy('name')
      .execute();
    return Promise.all(
      users.map(async (u) => ({
        name: u.name,
        admin: u.admin === 1,
        createdAt: u.created_at,
        grants: await this.grantsFor([`user:${u.name}`]),
      })),
    );
  }

  /** Sets the actions of a subject on a pattern (replacing earlier ones); no actions revokes. */
  async grant(subject: string, pattern: string, actions: Action[]): Promise<void> {
    checkPattern(pattern);
    if (subject !== 'anonymous') {
      const user = subject.replace(/^user:/, '');
      const exists = await this.db
        .selectFrom('users')
        .select('name')
        .where('name', '=', user)
        .executeTakeFirst();
      if (!exists) throw new AuthError(`no user ${user}`);
      subject = `user:${user}`;
    }
    await this.db
      .deleteFrom('grants')
      .where('subject', '=', subject)
      .where('pattern', '=', pattern)
      .execute();
    if (actions.length === 0) return;
    await this.db
      .insertInto('grants')
      .values({ subject, pattern, actions: actions.join(','), created_at: now() })
      .execute();
  }

  async grantsFor(subjects: string[]): Promise<Scope[]> {
    if (subjects.length === 0) return [];
    const rows = await this.db
      .selectFrom('grants')
      .select(['pattern', 'actions'])
      .where('subject', 'in', subjects)
      .orderBy('pattern')
      .execute();
    return rows.map((r) => ({ pattern: r.pattern, actions: parseActions(r.actions) }));
  }

  /** The user as a principal (no password check): for a registry token's subject. */
  async user(name: string): Promise<Principal | undefined> {
    const u = await this.db
      .selectFrom('users')
      .select(['name', 'admin'])
      .where('name', '=', name)
      .executeTakeFirst();
    return u ? { kind: 'user', name: u.name, admin: u.admin === 1 } : undefined;
  }

  /**
   * Whether a registry token for `name` issued at `iat` (seconds) is still good: the user exists
   * and its password has not changed since. One primary-key lookup (it runs on every /v2/
   * request that carries a registry token).
   */
  async tokenCurrent(name: string, iat: number): Promise<boolean> {
    const u = await this.credentialsCache.get(name, () => this.credentialsChanged.first({ name }));
    if (!u) return false;
    return u.credentials_changed_at === null || iat * 1000 >= Date.parse(u.credentials_changed_at);
  }

  /** The user's password hash and admin flag, undefined when there is no such user. */
  async passwordRecord(name: string): Promise<PasswordRecord | undefined> {
    const u = await this.db
      .selectFrom('users')
      .select(['name', 'password_hash', 'admin'])
      .where('name', '=', name)
      .executeTakeFirst();
    return u && { name: u.name, admin: u.admin === 1, passwordHash: u.password_hash };
  }

  /**
   * Checks a password against `record` (from passwordRecord). With no record (an unknown name)
   * it is checked against a dummy hash all the same: the same scrypt either way, so the time an
   * answer takes does not tell whether the name exists.
   */
  async verify(record: PasswordRecord | undefined, password: string): Promise<Principal | undefined> {
    const matches = await verifyPassword(password, record?.passwordHash ?? (await dummyHash()));
    if (!record || !matches) return undefined;
    return { kind: 'user', name: record.name, admin: record.admin };
  }

  async checkPassword(name: string, password: string): Promise<Principal | undefined> {
    return this.verify(await this.passwordRecord(name), password);
  }

  async createToken(
    user: string,
    name: string,
    scopes: Scope[] | 'admin' | null,
    expiresAt: Date | null,
  ): Promise<{ id: string; token: string }> {
    const u = await this.db
      .selectFrom('users')
      .select(['name', 'admin'])
      .where('name', '=', user)
      .executeTakeFirst();
    if (!u) throw new AuthError(`no user ${user}`);
    if (scopes === 'admin' && u.admin !== 1)
      throw new AuthError(`user ${user} is not an admin; the token cannot be either`);
    for (const s of Array.isArray(scopes) ? scopes : []) checkPattern(s.pattern);
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    await this.db
      .insertInto('api_tokens')
      .values({
        id,
        user_name: user,
        name,
        secret_sha256: sha256(secret),
        scopes: scopes === null ? null : JSON.stringify(scopes),
        expires_at: expiresAt?.toISOString() ?? null,
        created_at: now(),
      })
      .execute();
    return { id, token: `oc_${id}_${secret}` };
  }

  /** The principal an API token stands for, if it is valid, unexpired and not revoked. */
  async checkToken(token: string): Promise<Principal | undefined> {
    const m = /^oc_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/.exec(token);
    if (!m) return undefined;
    const row = await this.db
      .selectFrom('api_tokens')
      .innerJoin('users', 'users.name', 'api_tokens.user_name')
      .select([
        'api_tokens.secret_sha256',
        'api_tokens.scopes',
        'api_tokens.expires_at',
        'api_tokens.revoked_at',
        'users.name',
        'users.admin',
        'api_tokens.last_used_at',
      ])
      .where('api_tokens.id', '=', m[1] as string)
      .executeTakeFirst();
    if (!row || row.revoked_at) return undefined;
    if (row.expires_at && Date.parse(row.expires_at) <= Date.now()) return undefined;
    const given = Buffer.from(sha256(m[2] as string), 'hex');
    if (!timingSafeEqual(given, Buffer.from(row.secret_sha256, 'hex'))) return undefined;
    // Last use is kept to the minute: a token used for every blob must not write on every request.
    if (!row.last_used_at || Date.now() - Date.parse(row.last_used_at) > 60_000) {
      await this.db
        .updateTable('api_tokens')
        .set({ last_used_at: now() })
        .where('id', '=', m[1] as string)
        .execute();
    }
    const scopes = row.scopes === null ? undefined : (JSON.parse(row.scopes) as Scope[] | 'admin');
    return {
      kind: 'user',
      name: row.name,
      admin: row.admin === 1,
      ...(scopes === undefined ? {} : { tokenScopes: scopes }),
      tokenId: m[1] as string,
    };
  }

  /** Whether an API token still exists, unrevoked and unexpired (for registry tokens issued for it). */
  async tokenActive(id: string): Promise<boolean> {
    const row = await this.tokenCache.get(id, () => this.tokenState.first({ id }));
    return !!row && !row.revoked_at && !(row.expires_at && Date.parse(row.expires_at) <= Date.now());
  }

  async listTokens(user?: string) {
    let q = this.db
      .selectFrom('api_tokens')
      .select(['id', 'user_name', 'name', 'scopes', 'expires_at', 'created_at', 'last_used_at', 'revoked_at'])
      .orderBy('created_at');
    if (user) q = q.where('user_name', '=', user);
    return (await q.execute()).map((t) => ({
      id: t.id,
      user: t.user_name,
      name: t.name,
      scopes: t.scopes === null ? null : (JSON.parse(t.scopes) as Scope[] | 'admin'),
      expiresAt: t.expires_at,
      createdAt: t.created_at,
      lastUsedAt: t.last_used_at,
      revokedAt: t.revoked_at,
    }));
  }

  async revokeToken(id: string): Promise<void> {
    const r = await this.db
      .updateTable('api_tokens')
      .set({ revoked_at: now() })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) throw new AuthError(`no active token ${id}`);
  }
}
