// Talking to an OpenCloud server from the command line: which server (--server, then
// $OPENCLOUD_SERVER, then the last `opencloud login`, then http://127.0.0.1:5000), with which
// credentials ($OPENCLOUD_TOKEN, then the login file's token for that server, else none — enough
// while the server has no users), and requests whose failures become errors that say what to do.
// The token goes only to the server it was made for: never into a message.
import { OpenCloudError, UnavailableError } from '../errors.js';
import { loginFilePath, readLoginFile, serverKey } from './login-file.js';

export const DEFAULT_SERVER = 'http://127.0.0.1:5000';

export interface ServerTarget {
  /** The server's origin (scheme, host, port). */
  url: string;
  authorization?: string;
  /** Where the credentials came from, for messages ("OPENCLOUD_TOKEN", the login file, "none"). */
  credentials: string;
}

export async function resolveServer(
  server: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ServerTarget> {
  const file = await readLoginFile(loginFilePath(env));
  const given = server ?? env.OPENCLOUD_SERVER ?? file.default ?? DEFAULT_SERVER;
  let url: string;
  try {
    url = serverKey(/^[a-z][a-z0-9+.-]*:\/\//i.test(given) ? given : `http://${given}`);
  } catch {
    throw new OpenCloudError(`"${given}" is not a server URL`, {
      hint: 'e.g. --server https://registry.example.com',
    });
  }
  if (env.OPENCLOUD_TOKEN)
    return { url, authorization: `Bearer ${env.OPENCLOUD_TOKEN}`, credentials: 'OPENCLOUD_TOKEN' };
  const login = file.servers[url];
  if (login)
    return {
      url,
      authorization: `Basic ${Buffer.from(`${login.user}:${login.token}`).toString('base64')}`,
      credentials: `the login of ${login.user} (${loginFilePath(env)})`,
    };
  return { url, credentials: 'none' };
}

/** The server's {error:{code,message}} (or the registry's {errors:[…]}), or the status text. */
async function refusal(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as {
      error?: { code?: string; message?: string };
      errors?: { code?: string; message?: string }[];
    };
    const e = body.error ?? body.errors?.[0];
    if (e?.message) return `${e.code ? `${e.code}: ` : ''}${e.message}`;
  } catch {
    // not JSON: the text itself
  }
  return text.trim().slice(0, 300) || `${res.status} ${res.statusText}`;
}

/** fetch() against the server with its credentials; resolves only for 2xx answers. */
export async function serverRequest(
  target: ServerTarget,
  path: string,
  init: RequestInit & { duplex?: 'half' } = {},
): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(`${target.url}${path}`, {
      ...init,
      headers: {
        accept: 'application/json',
        ...(target.authorization ? { authorization: target.authorization } : {}),
        ...(init.headers as Record<string, string> | undefined),
      },
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new UnavailableError(
      `cannot reach ${target.url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
      {
        hint: 'check --server (or OPENCLOUD_SERVER) and that `opencloud serve` runs there',
      },
    );
  }
  if (res.ok) return res;
  const why = await refusal(res);
  if (res.status === 401)
    throw new OpenCloudError(
      `${target.url} wants credentials: ${why} (signed in with: ${target.credentials})`,
      {
        hint: `run \`opencloud login ${target.url} -u USER\`, or set OPENCLOUD_TOKEN to an API token`,
      },
    );
  throw new OpenCloudError(`${target.url} refused ${init.method ?? 'GET'} ${path.split('?')[0]}: ${why}`);
}
