// Who the UI signs in as. Basic credentials live in memory and in sessionStorage (this tab's
// session only, never localStorage), and are sent as `Authorization` by every request. A 401
// from the server clears them and asks for a sign-in; components follow with useAuth().
import { useSyncExternalStore } from 'react';

const KEY = 'opencloud.credentials';

export interface AuthState {
  /** The signed-in user's name, when credentials are held. */
  user: string | null;
  /** The server refused us (or asked for credentials): show the sign-in form. */
  signInNeeded: boolean;
}

interface Stored {
  user: string;
  header: string;
}

function load(): Stored | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as Stored) : null;
  } catch {
    return null;
  }
}

let credentials = load();
let state: AuthState = { user: credentials?.user ?? null, signInNeeded: false };
const listeners = new Set<() => void>();

function set(next: Stored | null, signInNeeded: boolean): void {
  credentials = next;
  if (next) sessionStorage.setItem(KEY, JSON.stringify(next));
  else sessionStorage.removeItem(KEY);
  state = { user: next?.user ?? null, signInNeeded };
  for (const fn of listeners) fn();
}

/** `Basic base64(user:password)`, UTF-8 encoded as RFC 7617 recommends. */
export function basicHeader(user: string, password: string): string {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return `Basic ${btoa(binary)}`;
}

export function authHeaders(): Record<string, string> {
  return credentials ? { authorization: credentials.header } : {};
}

export function signIn(user: string, header: string): void {
  set({ user, header }, false);
}

export function signOut(): void {
  set(null, true);
}

/** The server answered 401: whatever we held is no good. */
export function signInRequired(): void {
  if (!state.signInNeeded || credentials) set(null, true);
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
