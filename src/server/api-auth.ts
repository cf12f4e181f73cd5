// Authentication and permissions for everything that is not the registry, once a user exists:
// the JSON API and the original system's endpoints take Basic credentials (password or API
// token) or an API token as Bearer. Installing, the ledger, users, webhooks and collection need
// admin; a build needs the build and push rights on its target repository; reading needs a
// signed-in user.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { allowedActions, isAdmin } from '../auth/access.js';
import { MALFORMED_AUTHORIZATION, parseAuthorization, TooManyAttempts } from '../auth/credentials.js';
import { cookie, CSRF_HEADER, SESSION_COOKIE } from '../auth/sessions.js';
import type { Principal } from '../auth/store.js';
import { parseReference } from '../build/reference.js';
import { HttpError } from './envelope.js';
import type { AuthContext } from './registry-auth.js';

const ADMIN_ONLY = [
  /^\/api\/v1\/services(\/|$)/,
  /^\/api\/v1\/runs(\/|$)/,
  /^\/api\/v1\/registry\/gc$/,
  /^\/api\/v1\/builder\/prune$/,
  /^\/api\/v1\/builder\/workers$/,
  /^\/api\/v1\/users(\/|$)/,
  /^\/api\/v1\/audit$/,
  /^\/api\/v1\/tokens(\/|$)/,
  /^\/api\/v1\/system\/doctor$/,
  /^\/api\/v1\/webhooks(\/|$)/,
  /^\/api\/v1\/system\/log-level$/,
  /^\/(enable-service|enable-service-stream|get-service-status)$/,
];
const GUARDED = /^\/(api\/|build-image$|enable-service|get-service-status$|get-images$)/;
// The session routes check credentials themselves (signing in is how one gets them).
const OPEN = [
  /^\/api\/v1\/?$/,
  /^\/api\/v1\/system\/info$/,
  /^\/api\/v1\/openapi\.json$/,
  /^\/api\/v1\/session$/,
];

async function signedIn(ctx: AuthContext, req: FastifyRequest): Promise<Principal> {
  const creds = parseAuthorization(req.headers.authorization);
  if (!creds && req.headers.authorization) throw new HttpError(401, 'UNAUTHORIZED', MALFORMED_AUTHORIZATION);
  const sessionId = creds ? undefined : cookie(req.headers.cookie, SESSION_COOKIE);
  if (sessionId) {
    const session = await ctx.sessions.find(sessionId);
    if (!session) throw new HttpError(401, 'UNAUTHORIZED', 'the session has ended: sign in again');
    // A cookie is sent by the browser on its own: a change must also carry the session's CSRF token.
    if (!['GET', 'HEAD', 'OPTIONS'].includes(req.method) && req.headers[CSRF_HEADER] !== session.csrf) {
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

/** The repository a build request pushes to (JSON body, the archive form's query, or imageName). */
function buildTarget(req: FastifyRequest): string | undefined {
  const body = (req.body ?? {}) as { repository?: unknown; imageName?: unknown };
  const query = (req.query ?? {}) as { repository?: unknown };
  if (typeof body.repository === 'string') return body.repository;
  if (typeof query.repository === 'string') return query.repository;
  if (typeof body.imageName === 'string') {
    try {
      return parseReference(body.imageName).repository;
    } catch {
      return undefined; // the route answers the 400
    }
  }
  return undefined;
}

export function apiAuth(
  app: FastifyInstance,
  ctx: AuthContext,
  /** The repository of a recorded build (for repeating it). */
  buildRepository: (id: string) => Promise<string | undefined>,
): void {
  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?')[0] as string;
    if (!GUARDED.test(path) || OPEN.some((r) => r.test(path))) return;
    if (!(await ctx.enabled())) return;
    try {
      req.principal = await signedIn(ctx, req);
    } catch (err) {
      // A page's own fetch() (Sec-Fetch-Dest: empty) gets no Basic challenge: the browser would
      // answer it with its login box instead of letting the UI show its sign-in form.
      if (err instanceof HttpError && err.statusCode === 401 && req.headers['sec-fetch-dest'] !== 'empty')
        reply.header('www-authenticate', 'Basic realm="opencloud"');
      throw err;
    }
    if (ADMIN_ONLY.some((r) => r.test(path)) && !isAdmin(req.principal)) {
      throw new HttpError(403, 'FORBIDDEN', `${path} needs an admin; ${req.principal.name} is not one`);
    }
  });
  // A build's target is known once the body is parsed: build and push rights on it.
  app.addHook('preHandler', async (req) => {
    const path = req.url.split('?')[0] as string;
    if (req.method !== 'POST' || !req.principal) return;
    const repeat = /^\/api\/v1\/builds\/([^/]+)\/repeat$/.exec(path);
    if (!repeat && path !== '/api/v1/builds' && path !== '/build-image') return;
    const repository = repeat ? await buildRepository(repeat[1] as string) : buildTarget(req);
    if (repository === undefined) return;
    const allowed = await allowedActions(ctx.store, req.principal, repository);
    if (!allowed.has('build') || !allowed.has('push')) {
      throw new HttpError(
        403,
        'FORBIDDEN',
        `${req.principal.name} may not build into ${repository} (needs build and push)`,
      );
    }
  });
}
