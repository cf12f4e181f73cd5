// Web sessions for the UI: a random id in an HttpOnly, SameSite=Strict cookie (stored here only
// as its sha256), a CSRF token per session that every state-changing request must echo in a
// header, an expiry, and a logout that deletes the session server-side.
import { createHash, randomBytes } from 'node:crypto';
import type { StateStore } from '../state/store.js';
import type { Principal } from './store.js';

export const SESSION_COOKIE = 'oc_session';
export const CSRF_HEADER = 'x-csrf-token';
const TTL_MS = 12 * 3600_000;
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export interface Session {
  principal: Principal;
  csrf: string;
  expiresAt: string;
}

export class Sessions {
  constructor(private readonly state: StateStore) {}

  async create(user: string): Promise<{ id: string; csrf: string; expiresAt: Date }> {
    const id = randomBytes(32).toString('base64url');
    const csrf = randomBytes(24).toString('base64url');
    const expiresAt = new Date(Date.now() + TTL_MS);
    await this.state.db
      .insertInto('sessions')
      .values({
        id_sha256: sha256(id),
        user_name: user,
        csrf,
        created_at: new Date().toISOString(),
        expires_at: expiresAt.toISOString(),
      })
      .execute();
    return { id, csrf, expiresAt };
  }

  async find(id: string): Promise<Session | undefined> {
    const r = await this.state.db
      .selectFrom('sessions')
      .innerJoin('users', 'users.name', 'sessions.user_name')
      .select(['users.name', 'users.admin', 'sessions.csrf', 'sessions.expires_at'])
      .where('sessions.id_sha256', '=', sha256(id))
      .executeTakeFirst();
    if (!r || Date.parse(r.expires_at) <= Date.now()) return undefined;
    return {
      principal: { kind: 'user', name: r.name, admin: r.admin === 1 },
      csrf: r.csrf,
      expiresAt: r.expires_at,
    };
  }

  async end(id: string): Promise<void> {
    await this.state.db.deleteFrom('sessions').where('id_sha256', '=', sha256(id)).execute();
  }

  /** Drops expired sessions (called now and then; an expired one is refused anyway). */
  async sweep(): Promise<void> {
    await this.state.db.deleteFrom('sessions').where('expires_at', '<', new Date().toISOString()).execute();
  }
}

/** The value of one cookie from a Cookie header. */
export function cookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

/**
 * The Set-Cookie value that hands a browser its session until `expiresAt` (an empty value with no
 * expiry ends it): HttpOnly, SameSite=Strict, and Secure when served over HTTPS.
 */
export function sessionCookie(value: string, expiresAt: Date | undefined, https: boolean): string {
  const maxAgeS = expiresAt ? Math.floor((expiresAt.getTime() - Date.now()) / 1000) : 0;
  const secure = https ? '; Secure' : '';
  return `${SESSION_COOKIE}=${encodeURIComponent(value)}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}${secure}`;
}
