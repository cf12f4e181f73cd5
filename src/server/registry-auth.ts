// Registry authentication the way Docker-style clients expect it, on as soon as a user exists:
// /v2/ answers 401 with `WWW-Authenticate: Bearer realm=…,service=…,scope=…`; the token endpoint
// (GET, or POST with OAuth2 password form) takes Basic credentials — a password or an API token —
// or none (anonymous), and signs a short-lived token holding only the scopes the caller has.
// /v2/ also takes Basic credentials and API tokens directly.
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { allowedActions } from '../auth/access.js';
import {
  Authenticator,
  type Lockout,
  MALFORMED_AUTHORIZATION,
  parseAuthorization,
  TooManyAttempts,
} from '../auth/credentials.js';
import { signToken, type RegistryClaims } from '../auth/jwt.js';
import { VerifiedTokens } from '../auth/verified-tokens.js';
import { ACTIONS, type Action } from '../auth/patterns.js';
import { cookie, CSRF_HEADER, SESSION_COOKIE, type Sessions } from '../auth/sessions.js';
import { ANONYMOUS, type AuthStore, type Principal, type Scope } from '../auth/store.js';
import { OciError } from '../registry/errors.js';
import type { Route } from '../registry/names.js';
import { registryRouteOf } from '../registry/route-of.js';
import { ANYONE, type AccessRule } from '../http/access.js';
import { safeEqual } from '../auth/safe-equal.js';
import { HttpError } from './envelope.js';

export const SERVICE = 'opencloud-registry';
const TOKEN_TTL_S = 300;

declare module 'fastify' {
  interface FastifyRequest {
    /** Set when authentication is on: who is asking (anonymous included). */
    principal?: Principal;
    /** For listings: whether the caller may pull from a repository. */
    mayPull?: (repository: string) => Promise<boolean>;
    /** For cross-repository mounts: whether the caller may take a blob from `from` (undefined:
     *  any repository holding it, which only an admin may). */
    mayMountFrom?: (from: string | undefined) => Promise<boolean>;
  }
}

export interface AuthContext {
  store: AuthStore;
  sessions: Sessions;
  authn: Authenticator;
  key: Buffer;
  /** Registry bearer tokens verified with `key`, kept while they are valid. */
  tokens: VerifiedTokens;
  /** Authentication is on once a user exists (checked at most every 2 s). */
  enabled(): Promise<boolean>;
}

export function authContext(
  store: AuthStore,
  sessions: Sessions,
  key: Buffer,
  /** Told when a name or an address gets locked out by failed sign-ins (the audit trail). */
  onLockout?: (lockout: Lockout) => void,
): AuthContext {
  // The answer as a settled promise: awaited on every request, and made anew every 2 s only.
  let cached = { at: 0, on: Promise.resolve(false) };
  return {
    store,
    sessions,
    authn: new Authenticator(store, onLockout ? { onLockout } : {}),
    key,
    tokens: new VerifiedTokens(key, SERVICE),
    enabled() {
      const now = Date.now();
      if (now - cached.at > 2000) {
        const entry = { at: now, on: store.userCount().then((n) => n > 0) };
        // A failed count is not remembered: the next request asks again.
        entry.on.catch(() => (entry.at = 0));
        cached = entry;
      }
      return cached.on;
    },
  };
}

/** What a /v2/ request needs: a repository action, the catalog, or just a signed-in caller. */
function needed(
  method: string,
  route: Route | undefined,
): { repository?: string; action: Action | 'catalog' | 'base' } {
  if (!route) return { action: 'base' };
  if (route.kind === 'catalog') return { action: 'catalog' };
  // Upload sessions belong to pushing, whatever the method; reading content is pulling.
  const repository = route.name;
  if (route.kind === 'upload' || route.kind === 'uploads') return { repository, action: 'push' };
  if (method === 'DELETE') return { repository, action: 'delete' };
  if (method === 'GET' || method === 'HEAD') return { repository, action: 'pull' };
  return { repository, action: 'push' };
}

/** The token endpoint as the client reached this server: https under TLS, and behind a proxy
 *  (trustProxy) its X-Forwarded-Proto/-Host. Odd values fall back rather than reach the header. */
function realm(req: FastifyRequest): string {
  const proto = req.protocol === 'https' ? 'https' : 'http';
  const host = /^[A-Za-z0-9._:[\]-]+$/.test(req.host) ? req.host : 'localhost';
  return `${proto}://${host}/auth/token`;
}

function challenge(req: FastifyRequest, reply: FastifyReply, scope?: string, error?: string): void {
  const parts = [`realm="${realm(req)}"`, `service="${SERVICE}"`];
  if (scope) parts.push(`scope="${scope}"`);
  if (error) parts.push(`error="${error}"`);
  reply.header('www-authenticate', `Bearer ${parts.join(',')}`);
}

const scopeFor = (n: ReturnType<typeof needed>) =>
  n.action === 'catalog'
    ? 'registry:catalog:*'
    : n.repository
      ? `repository:${n.repository}:${n.action === 'push' ? 'pull,push' : n.action}`
      : undefined;

const covers = (claims: RegistryClaims, type: string, name: string, action: string) =>
  claims.access.some(
    (a) => a.type === type && a.name === name && (a.actions.includes(action) || a.actions.includes('*')),
  );

/** The principal behind Basic credentials or an API token used as Bearer; undefined if none given. */
async function principalOf(
  ctx: AuthContext,
  req: FastifyRequest,
  registry: boolean,
): Promise<Principal | 'invalid' | undefined> {
  const creds = parseAuthorization(req.headers.authorization);
  if (!creds) return undefined;
  try {
    if (creds.kind === 'basic') return (await ctx.authn.basic(creds.user, creds.secret, req.ip)) ?? 'invalid';
    if (creds.token.startsWith('oc_')) return (await ctx.store.checkToken(creds.token)) ?? 'invalid';
  } catch (err) {
    if (err instanceof TooManyAttempts) {
      throw registry
        ? new OciError('TOOMANYREQUESTS', err.message, undefined, 429)
        : new HttpError(429, 'TOO_MANY_ATTEMPTS', err.message);
    }
    throw err;
  }
  return 'invalid';
}

async function guardRegistry(
  ctx: AuthContext,
  req: FastifyRequest,
  reply: FastifyReply,
  route: Route | undefined,
): Promise<void> {
  const need = needed(req.method, route);
  const creds = parseAuthorization(req.headers.authorization);
  const deny = (message: string, error?: string): never => {
    challenge(req, reply, scopeFor(need), error);
    throw new OciError('UNAUTHORIZED', message);
  };
  if (!creds && req.headers.authorization) deny(MALFORMED_AUTHORIZATION);
  if (!creds) {
    // The web UI browses the registry with its session cookie (a change also needs the CSRF token).
    const session = await sessionPrincipal(ctx, req);
    if (!session)
      deny('authentication required: sign in (docker login, skopeo login, crane auth login) or get a token');
    return authorize(ctx, req, need, session as Principal);
  }
  if (creds?.kind === 'bearer' && !creds.token.startsWith('oc_')) {
    const claims = ctx.tokens.verify(creds.token);
    if (!claims) return deny('the token is invalid or expired', 'invalid_token');
    if (claims.tid !== undefined && !(await ctx.store.tokenActive(claims.tid)))
      return deny('the API token this token was issued for is revoked or expired', 'invalid_token');
    // One primary-key lookup: a user deleted, or whose password changed after the token was
    // issued (also by `opencloud users` in another process), ends the token at once.
    if (claims.sub !== 'anonymous' && !(await ctx.store.tokenCurrent(claims.sub, claims.iat)))
      return deny(
        'the token was issued before its user changed password or was deleted: sign in again',
        'invalid_token',
      );
    const principal: Principal =
      claims.sub === 'anonymous' ? ANONYMOUS : { kind: 'user', name: claims.sub, admin: false };
    req.principal = principal;
    if (need.action === 'base') return;
    if (need.action === 'catalog') {
      if (!covers(claims, 'registry', 'catalog', '*'))
        deny('the token does not allow the catalog', 'insufficient_scope');
      const user = principal.kind === 'user' ? await userPrincipal(ctx, principal.name) : ANONYMOUS;
      // A token issued for a scoped API token lists only what the API token's patterns cover.
      const lister: Principal = claims.scoped
        ? { ...(user ?? ANONYMOUS), tokenScopes: (claims.patterns ?? []) as Scope[] }
        : (user ?? ANONYMOUS);
      req.mayPull = async (r) => (await allowedActions(ctx.store, lister, r)).has('pull');
      return;
    }
    if (!covers(claims, 'repository', need.repository as string, need.action)) {
      deny(`the token does not allow ${need.action} on ${need.repository}`, 'insufficient_scope');
    }
    // Clients ask for the target's scope only; the source is judged by the user's own rights
    // (a token issued for a scoped API token is held to what it covers).
    req.mayMountFrom = async (from) => {
      if (from !== undefined && covers(claims, 'repository', from, 'pull')) return true;
      const user =
        claims.scoped || principal.kind !== 'user' ? undefined : await userPrincipal(ctx, principal.name);
      if (!user) return false;
      return from === undefined ? user.admin : (await allowedActions(ctx.store, user, from)).has('pull');
    };
    return;
  }
  const principal = await principalOf(ctx, req, true);
  if (principal === 'invalid' || principal === undefined)
    return deny('the user name, password or token is not valid');
  return authorize(ctx, req, need, principal);
}

/** What a signed-in principal (Basic, API token, session) may do here; DENIED if not this. */
async function authorize(
  ctx: AuthContext,
  req: FastifyRequest,
  need: ReturnType<typeof needed>,
  principal: Principal,
): Promise<void> {
  req.principal = principal;
  if (need.action === 'base') return;
  if (need.action === 'catalog') {
    req.mayPull = async (r) => (await allowedActions(ctx.store, principal, r)).has('pull');
    return;
  }
  if (!(await allowedActions(ctx.store, principal, need.repository as string)).has(need.action)) {
    throw new OciError('DENIED', `${principal.name} may not ${need.action} ${need.repository}`);
  }
  req.mayMountFrom = async (from) =>
    from === undefined ? principal.admin : (await allowedActions(ctx.store, principal, from)).has('pull');
}

async function sessionPrincipal(ctx: AuthContext, req: FastifyRequest): Promise<Principal | undefined> {
  const id = cookie(req.headers.cookie, SESSION_COOKIE);
  const session = id ? await ctx.sessions.find(id) : undefined;
  if (!session) return undefined;
  if (req.method !== 'GET' && req.method !== 'HEAD' && !safeEqual(req.headers[CSRF_HEADER], session.csrf)) {
    throw new OciError('DENIED', `a signed-in change needs the session's ${CSRF_HEADER} header`);
  }
  return session.principal;
}

const userPrincipal = (ctx: AuthContext, name: string) => ctx.store.user(name);

/** "repository:demo/app:pull,push" → parts; names never hold ':', the type may ("repository(plugin)"). */
function parseScope(scope: string): { type: string; name: string; actions: string[] } | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last <= first) return undefined;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope
      .slice(last + 1)
      .split(',')
      .filter(Boolean),
  };
}

async function issue(ctx: AuthContext, principal: Principal, scopes: string[]) {
  const access: RegistryClaims['access'] = [];
  for (const s of scopes.flatMap((x) => x.split(' ')).filter(Boolean)) {
    const p = parseScope(s);
    if (!p) continue;
    if (p.type === 'registry' && p.name === 'catalog') {
      access.push({ type: 'registry', name: 'catalog', actions: ['*'] });
    } else if (p.type.startsWith('repository')) {
      const allowed = await allowedActions(ctx.store, principal, p.name);
      const granted = p.actions.flatMap((a) =>
        a === '*'
          ? ACTIONS.every((x) => x === 'build' || allowed.has(x))
            ? ['*']
            : []
          : allowed.has(a as Action)
            ? [a]
            : [],
      );
      access.push({ type: 'repository', name: p.name, actions: granted });
    }
  }
  const iat = Math.floor(Date.now() / 1000);
  const token = signToken(
    {
      iss: 'opencloud',
      sub: principal.name,
      aud: SERVICE,
      iat,
      exp: iat + TOKEN_TTL_S,
      access,
      ...(principal.tokenScopes !== undefined && principal.tokenScopes !== 'admin'
        ? { scoped: true, patterns: principal.tokenScopes }
        : {}),
      ...(principal.tokenId === undefined ? {} : { tid: principal.tokenId }),
    },
    ctx.key,
  );
  return {
    token,
    access_token: token,
    expires_in: TOKEN_TTL_S,
    issued_at: new Date(iat * 1000).toISOString(),
  };
}

const tokenEndpoints: FastifyPluginAsync<{ ctx: AuthContext }> = async (app, { ctx }) => {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) =>
    done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );
  const signIn = async (req: FastifyRequest, user?: string, secret?: string): Promise<Principal> => {
    if (user !== undefined && secret !== undefined) {
      try {
        const p = await ctx.authn.basic(user, secret, req.ip);
        if (p) return p;
      } catch (err) {
        if (err instanceof TooManyAttempts) throw new HttpError(429, 'TOO_MANY_ATTEMPTS', err.message);
        throw err;
      }
      throw new HttpError(401, 'UNAUTHORIZED', 'the user name, password or token is not valid');
    }
    if (req.headers.authorization && !parseAuthorization(req.headers.authorization))
      throw new HttpError(401, 'UNAUTHORIZED', MALFORMED_AUTHORIZATION);
    const p = await principalOf(ctx, req, false);
    if (p === 'invalid')
      throw new HttpError(401, 'UNAUTHORIZED', 'the user name, password or token is not valid');
    return p ?? ANONYMOUS;
  };
  // Public: the endpoint judges the credentials it is given, and anonymous callers get anonymous scopes.
  app.get<{ Querystring: { scope?: string | string[]; service?: string } }>(
    '/auth/token',
    ANYONE,
    async (req) => {
      const scope = req.query.scope;
      return issue(ctx, await signIn(req), scope === undefined ? [] : Array.isArray(scope) ? scope : [scope]);
    },
  );
  app.post<{ Body: Record<string, string> }>('/auth/token', ANYONE, async (req) => {
    const b = req.body ?? {};
    if (b.grant_type !== undefined && b.grant_type !== 'password') {
      throw new HttpError(
        400,
        'UNSUPPORTED_GRANT',
        `grant_type ${b.grant_type} is not supported; use password`,
      );
    }
    return issue(ctx, await signIn(req, b.username, b.password), b.scope ? [b.scope] : []);
  });
};

/** Registers the token endpoint (public: it judges the credentials it is given itself). */
export async function registryAuth(app: FastifyInstance, ctx: AuthContext): Promise<void> {
  await app.register(tokenEndpoints, { ctx });
}

/**
 * The access rule of every /v2/ route: the path is parsed once (registry/route-of.ts keeps it for
 * the handler), and the token flow decides on that parsed repository name and action.
 */
export function registryAccess(ctx: AuthContext): AccessRule {
  return {
    who: 'the registry token flow: the action on the parsed repository, by grants',
    when: 'request',
    signIn: false,
    check: (req, reply) => guardRegistry(ctx, req, reply, registryRouteOf(req)),
  };
}
