// Requests to this server: credentials added, a 401 turned into "sign in", and error answers
// (the API's {error:{code,message}} and the registry's {errors:[…]}) turned into ApiError.
// `credentials: 'omit'`: the browser neither sends cookies nor shows its own Basic-auth prompt
// on a 401; our Authorization header is what signs a request in.
import { authHeaders, signInRequired } from './auth';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as {
      error?: { code?: string; message?: string };
      errors?: { code?: string; message?: string }[];
    };
    const e = body.error ?? body.errors?.[0];
    if (e?.message) return new ApiError(res.status, e.code ?? String(res.status), e.message);
  } catch {
    // not JSON: the text itself is the message
  }
  return new ApiError(res.status, String(res.status), text || `${res.status} ${res.statusText}`);
}

/** fetch() with our credentials; resolves only for 2xx answers. */
export async function request(path: string, init: RequestInit = {}): Promise<Response> {
  const res = await fetch(path, {
    ...init,
    credentials: 'omit',
    headers: { ...authHeaders(), ...(init.headers as Record<string, string> | undefined) },
  });
  if (res.status === 401) signInRequired();
  if (!res.ok) throw await errorOf(res);
  return res;
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
