// Requests to this server: the session cookie sent (`credentials: 'same-origin'`, never an
// Authorization header), the session's CSRF token added to every change, a 401 turned into
// "sign in", and error answers turned into ApiError.
import { csrfHeaders, currentGeneration, refreshCsrf, signInRequired } from './auth';
import { errorOf } from './errors';

export { ApiError } from './errors';

/** No answer at all: the server is down, or the network between here and it. */
export class NetworkError extends Error {
  override name = 'NetworkError';
}

/** A 403 for a missing or stale CSRF token (the API says CSRF, the registry DENIED). */
const csrfRefused = (err: { status: number; code: string; message: string }) =>
  err.status === 403 && (err.code === 'CSRF' || err.message.includes('x-csrf-token'));

/** fetch() with the session; resolves only for 2xx answers. */
export async function request(path: string, init: RequestInit = {}): Promise<Response> {
  const method = init.method ?? 'GET';
  const send = () =>
    fetch(path, {
      ...init,
      credentials: 'same-origin',
      headers: { ...csrfHeaders(method), ...(init.headers as Record<string, string> | undefined) },
    }).catch((err: Error) => {
      // fetch says only "Failed to fetch": say what failed and what to do.
      if (err.name === 'AbortError') throw err;
      throw new NetworkError(
        `The server did not answer (${method} ${path.split('?')[0]}): it may be stopped or unreachable from here. Check that it runs, then retry.`,
      );
    });
  const sentIn = currentGeneration();
  let res = await send();
  if (res.status === 401) signInRequired(sentIn);
  if (res.ok) return res;
  const err = await errorOf(res);
  // Another tab signed in again (a new cookie, a new token): once more with the new token.
  const resendable = init.body === undefined || init.body === null || typeof init.body === 'string';
  if (csrfRefused(err) && resendable && (await refreshCsrf())) {
    res = await send();
    if (res.status === 401) signInRequired(sentIn);
    if (res.ok) return res;
    throw await errorOf(res);
  }
  throw err;
}

export async function getJson<T>(path: string, headers: Record<string, string> = {}): Promise<T> {
  return (await (await request(path, { headers: { accept: 'application/json', ...headers } })).json()) as T;
}

export async function postJson<T>(path: string, body: unknown = {}): Promise<T> {
  const res = await request(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(body),
  });
  return (await res.json()) as T;
}

/** PUT with a JSON body; the answer's JSON. */
export async function putJson<T>(path: string, body: unknown): Promise<T> {
  const res = await request(path, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(body),
  });
  return (await res.json()) as T;
}

/** DELETE; resolves once the server answered 2xx. */
export async function deleteIt(path: string): Promise<void> {
  await request(path, { method: 'DELETE', headers: { accept: 'application/json' } });
}
