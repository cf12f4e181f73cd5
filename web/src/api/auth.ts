// Who the UI is signed in as, through the server's web sessions: POST /api/v1/session sets an
// HttpOnly cookie (the page never sees it) and returns a CSRF token, kept here in memory only
// and sent back on every change; GET /api/v1/session says who is signed in (and gives the token
// again after a reload); DELETE signs out. No password is kept anywhere: the sign-in form sends
// it once. A 401 from the server brings the sign-in form back; components follow with useAuth().
import { useSyncExternalStore } from 'react';
import { errorOf } from './errors';
import type { Action, Grant } from './types';

export const CSRF_HEADER = 'x-csrf-token';
const SESSION = '/api/v1/session';

export interface AuthState {
  /** GET /api/v1/session has answered (or failed): the pages may load. */
  checked: boolean;
  /** The signed-in user's name; null when signed out or when the server has no users. */
  user: string | null;
  admin: boolean;
  /** The grants that apply to the user (their own and everyone's): the UI offers only those. */
  grants: Grant[];
  /** The server has users (sign-in is on); false while it has none and everything is open. */
  authentication: boolean;
  /** Authentication is on and there is no session: show the sign-in form. */
  signInNeeded: boolean;
  /** The form is back because a session ended under us (not a sign-out). */
  expired: boolean;
}

interface SessionAnswer {
  user: string | null;
  admin: boolean;
  grants?: Grant[];
  csrfToken?: string;
  expiresAt?: string;
  authentication?: boolean;
}

let state: AuthState = {
  checked: false,
  user: null,
  admin: false,
  grants: [],
  authentication: false,
  signInNeeded: false,
  expired: false,
};
let csrfToken: string | undefined;
/** Bumped on every sign-in and sign-out: a 401 to a request sent before then says nothing now. */
let generation = 0;
const listeners = new Set<() => void>();

function set(next: Partial<AuthState>): void {
  state = { ...state, ...next };
  for (const fn of listeners) fn();
}

function apply(answer: SessionAnswer): void {
  csrfToken = answer.user ? answer.csrfToken : undefined;
  set({
    checked: true,
    user: answer.user,
    admin: answer.admin,
    grants: answer.grants ?? [],
    authentication: answer.authentication ?? answer.user !== null,
    signInNeeded: false,
    expired: false,
  });
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The CSRF header a request with this method needs (none for reads or without a session). */
export function csrfHeaders(method = 'GET'): Record<string, string> {
  return csrfToken && !SAFE.has(method.toUpperCase()) ? { [CSRF_HEADER]: csrfToken } : {};
}

export function currentGeneration(): number {
  return generation;
}

/** The server answered 401 to a request sent in `sentIn`: the session is gone. */
export function signInRequired(sentIn: number = generation): void {
  if (sentIn !== generation || state.signInNeeded) return;
  signedOut(state.user !== null);
}

/** No session any more: the sign-in form, saying so when the session ended under us (`expired`). */
function signedOut(expired: boolean): void {
  csrfToken = undefined;
  set({
    checked: true,
    user: null,
    admin: false,
    grants: [],
    authentication: true,
    signInNeeded: true,
    expired,
  });
}

/** GET /api/v1/session: the session's user and CSRF token; null for 401 (not signed in). */
async function readSession(): Promise<SessionAnswer | null> {
  const sentIn = generation;
  const res = await fetch(SESSION, { credentials: 'same-origin', headers: { accept: 'application/json' } });
  if (res.status === 401) {
    signInRequired(sentIn);
    return null;
  }
  if (!res.ok) throw await errorOf(res);
  const answer = (await res.json()) as SessionAnswer;
  if (sentIn === generation) apply(answer);
  return answer;
}

let checking: Promise<void> | undefined;

/** Asks the server whether this tab is signed in (once at a time); sets `checked` either way. */
export function checkSession(): Promise<void> {
  checking ??= readSession()
    .then(
      () => undefined,
      // The server is unreachable or broken: the pages load and show their own errors.
      () => set({ checked: true }),
    )
    .finally(() => (checking = undefined));
  return checking;
}

/** Re-reads the CSRF token (another tab may have signed in anew); true if it changed. */
export async function refreshCsrf(): Promise<boolean> {
  const before = csrfToken;
  const answer = await readSession().catch(() => null);
  return answer !== null && csrfToken !== undefined && csrfToken !== before;
}

/** Signs in with a user name and password; throws with the message to show when refused. */
export async function signIn(username: string, password: string): Promise<void> {
  const res = await fetch(SESSION, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (res.status === 401) throw new Error('The user name or password is not valid.');
  if (!res.ok) throw await errorOf(res); // 429 says when to try again
  const answer = (await res.json()) as SessionAnswer;
  generation++;
  apply(answer);
}

/** Ends the session on the server (which also clears the cookie), then shows the sign-in form. */
export async function signOut(): Promise<void> {
  const res = await fetch(SESSION, {
    method: 'DELETE',
    credentials: 'same-origin',
    headers: csrfHeaders('DELETE'),
  });
  if (!res.ok) throw await errorOf(res);
  generation++;
  signedOut(false);
}

/**
 * Changes the signed-in user's password (PUT /api/v1/account/password). Every session of the
 * user ends on the server; this tab's is replaced by the new one the answer brings (a new cookie
 * and CSRF token), so it stays signed in. Throws with the message to show when refused.
 */
export async function changePassword(currentPassword: string, newPassword: string): Promise<void> {
  const res = await fetch('/api/v1/account/password', {
    method: 'PUT',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...csrfHeaders('PUT') },
    body: JSON.stringify({ currentPassword, newPassword }),
  });
  if (res.status === 401) {
    signInRequired();
    throw new Error('The session has ended: sign in again.');
  }
  if (!res.ok) {
    const err = await errorOf(res);
    if (err.code === 'AUTH_INVALID' && res.status === 403)
      throw new Error('The current password is not right.');
    throw err; // 429 says when to try again; 400 what the new password lacks
  }
  const answer = (await res.json()) as { csrfToken: string };
  // Requests sent with the old session may yet come back 401: they say nothing now.
  generation++;
  csrfToken = answer.csrfToken;
}

export function useAuth(): AuthState {
  return useSyncExternalStore(
    (fn) => {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    () => state,
  );
}

/** Whether the signed-in user may do `action` on some repository (an admin: anywhere). */
export function mayAnywhere(auth: AuthState, action: Action): boolean {
  return auth.admin || auth.grants.some((g) => g.actions.includes(action));
}
