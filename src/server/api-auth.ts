// The gate of everything that is not the registry, once a user exists: it signs callers in from
// Basic credentials (a password or an API token), an API token as Bearer, or the web session
// cookie (a change then also carries the session's CSRF token), and says who is an admin. Which
// routes need what is declared on each route (src/http/access.ts); this file only answers "who is
// asking". The registry's token flow is its own gate (registry-auth.ts).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isAdmin } from '../auth/access.js';
import { MALFORMED_AUTHORIZATION, parseAuthorization, TooManyAttempts } from '../auth/credentials.js';
import { safeEqual } from '../auth/safe-equal.js';
import { cookie, CSRF_HEADER, SESSION_COOKIE } from '../auth/sessions.js';
import type { Principal } from '../auth/store.js';
import type { Gate } from '../http/access.js';
import { HttpError } from './envelope.js';
import type { AuthContext } from './registry-auth.js';

const SAFE_METHODS = ['GET', 'HEAD', 'OPTIONS'];

async function signedIn(ctx: AuthContext, req: FastifyRequest): Promise<Principal> {
  const creds = parseAuthorization(req.headers.authorization);
  if (!creds && req.headers.authorization) throw new HttpError(401, 'UNAUTHORIZED', MALFORMED_AUTHORIZATION);
  const sessionId = creds ? undefined : cookie(req.headers.cookie, SESSION_COOKIE);
  if (sessionId) {
    const session = await ctx.sessions.find(sessionId);
    if (!session) throw new HttpError(401, 'UNAUTHORIZED', 'the session has ended: sign in again');
    // A cookie is sent by the browser on its own: a change must also carry the session's CSRF token.
    if (!SAFE_METHODS.includes(req.method) && !safeEqual(req.headers[CSRF_HEADER], session.csrf)) {
      throw new HttpError(403, 'CSRF', `a signed-in change needs the session's ${CSRF_HEADER} header`);
    }
    return session.principal;
  }
  let p: Principal | undefined;
  try {
    if (creds?.kind === 'basic') p = await ctx.authn.basic(creds.user, creds.secret, req.ip);
    else if (creds?.kind === 'bearer') p = await ctx.store.checkToken(creds.token);
  } catch (err) {
    if (err instanceof TooManyAttempts) throw new HttpError(429, 'TOO_MANY_ATTEMPTS', err.message);
    throw err;
  }
  if (!p) {
    throw new HttpError(
      401,
      'UNAUTHORIZED',
      creds
        ? 'the user name, password or token is not valid'
        : 'sign in: Basic credentials or an API token (Authorization: Bearer oc_…)',
    );
  }
  return p;
}

/**
 * Whether a browser sent the request (a page load, a script's fetch, an image): browsers answer
 * a Basic challenge with their own login box and then send those credentials to this host from
 * any site, so they never get one. Scripts and command-line clients do.
 */
function fromBrowser(req: FastifyRequest): boolean {
  // Browsers send Sec-Fetch-Dest and Sec-Fetch-Site (Node's fetch sends only Sec-Fetch-Mode).
  return (
    req.headers['sec-fetch-dest'] !== undefined ||
    req.headers['sec-fetch-site'] !== undefined ||
    /\btext\/html\b/.test(req.headers.accept ?? '')
  );
}

/** The JSON API's gate: 401 in the API envelope, a Basic challenge only for non-browser clients. */
export function apiGate(ctx: AuthContext): Gate {
  return {
    enabled: () => ctx.enabled(),
    async signIn(req: FastifyRequest, reply: FastifyReply) {
      try {
        req.principal = await signedIn(ctx, req);
      } catch (err) {
        if (err instanceof HttpError && err.statusCode === 401 && !fromBrowser(req))
          reply.header('www-authenticate', 'Basic realm="opencloud"');
        throw err;
      }
    },
    requireAdmin(req: FastifyRequest) {
      const p = req.principal;
      if (p && isAdmin(p)) return;
      const who = p?.name ?? 'anonymous';
      throw new HttpError(403, 'FORBIDDEN', `this needs an admin; ${who} is not one`);
    },
  };
}

/** On a public route: whether the caller is an admin (bad or no credentials: no). */
export function callerIsAdmin(ctx: AuthContext): (req: FastifyRequest) => Promise<boolean> {
  return async (req) => {
    if (!(await ctx.enabled())) return true;
    try {
      return isAdmin(await signedIn(ctx, req));
    } catch (err) {
      if (err instanceof HttpError) return false;
      throw err;
    }
  };
}
