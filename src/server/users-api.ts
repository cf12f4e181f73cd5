// Users, grants and API tokens over HTTP: the same operations as `opencloud users …`, for admins;
// a user also lists, makes and revokes their own API tokens (signed in with their password or
// the web session: a token cannot mint tokens). A generated password and a new token are shown once.
import type { FastifyPluginAsync } from 'fastify';
import { generatePassword } from '../auth/passwords.js';
import { ACTIONS, patternCovers, type Action } from '../auth/patterns.js';
import { AuthError, type AuthStore, type Principal, type Scope } from '../auth/store.js';
import { grantsOf, isAdmin } from '../auth/access.js';
import { HttpError } from './envelope.js';
import type { AuthContext } from './registry-auth.js';
import { ADMINS, type AccessRule } from '../http/access.js';

const actions = { type: 'array', items: { type: 'string', enum: [...ACTIONS] }, uniqueItems: true } as const;
const scope = {
  type: 'object',
  required: ['pattern', 'actions'],
  additionalProperties: false,
  properties: { pattern: { type: 'string', minLength: 1 }, actions },
} as const;

/** The store's refusals (unknown user, bad name or pattern) are the client's mistakes. */
async function asClientError<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof AuthError) {
      throw new HttpError(
        /^no (user|active token)/.test(err.message) ? 404 : 400,
        'AUTH_INVALID',
        err.message,
      );
    }
    throw err;
  }
}

/**
 * A user signed in with a password or the web session: not through an API token (scoped or not:
 * an API token without scopes has no tokenScopes, but always its tokenId).
 */
export const withPassword = (p: Principal) => p.kind === 'user' && p.tokenId === undefined;

/** Admins, or the user named by `:name` signed in with a password or session (not a token). */
const tokensOfUser: AccessRule = {
  who: 'admins, and the user named in the path signed in with a password or the web session',
  when: 'request',
  signIn: true,
  async check(req) {
    const p = req.principal as Principal;
    if (isAdmin(p)) return;
    if (withPassword(p) && p.name === (req.params as { name: string }).name) return;
    throw new HttpError(
      403,
      'FORBIDDEN',
      `${p.name} may manage only their own API tokens, signed in with a password`,
    );
  },
};

/**
 * A token narrows its user's rights and can never widen them; a scope naming more than the user's
 * grants give is refused rather than silently worth less than it says.
 */
async function requireWithinGrants(store: AuthStore, name: string, scopes: Scope[]): Promise<void> {
  const user = await store.user(name);
  if (!user || user.admin) return; // an unknown user is the creation's own 404
  const grants = await grantsOf(store, name);
  for (const scope of scopes) {
    for (const action of scope.actions) {
      if (!grants.some((g) => g.actions.includes(action) && patternCovers(g.pattern, scope.pattern)))
        throw new HttpError(
          403,
          'FORBIDDEN',
          `${name} may not ${action} on all of ${scope.pattern}: a token cannot hold more than its user's grants`,
        );
    }
  }
}

export const usersApi: FastifyPluginAsync<{ ctx: AuthContext }> = async (app, { ctx }) => {
  /** Admins, the owner of token `:id` signed in with a password or session, or the token itself. */
  const tokenOwner: AccessRule = {
    who: "admins, the token's owner signed in with a password or the web session, and the token itself",
    when: 'request',
    signIn: true,
    async check(req) {
      const p = req.principal as Principal;
      if (isAdmin(p)) return;
      const id = (req.params as { id: string }).id;
      // A token may end itself (`opencloud logout`), never another.
      if (p.tokenId !== undefined && p.tokenId === id) return;
      const own = withPassword(p) ? await ctx.store.listTokens(p.name) : [];
      // Someone else's token is answered as unknown: its existence is not told.
      if (!own.some((t) => t.id === id)) throw new HttpError(404, 'AUTH_INVALID', `no active token ${id}`);
    },
  };
  const { store } = ctx;
  const self = { config: { access: tokensOfUser } };
  app.get('/api/v1/users', ADMINS, async () => ({
    users: await store.listUsers(),
    anonymous: await store.grantsFor(['anonymous']),
  }));

  app.post<{ Body: { name: string; password?: string; admin?: boolean } }>(
    '/api/v1/users',
    {
      ...ADMINS,
      schema: {
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: { name: { type: 'string' }, password: { type: 'string' }, admin: { type: 'boolean' } },
        },
      },
    },
    async (req, reply) => {
      const password = req.body.password ?? generatePassword();
      await asClientError(() => store.addUser(req.body.name, password, req.body.admin ?? false));
      return reply.code(201).send({
        name: req.body.name,
        admin: req.body.admin ?? false,
        ...(req.body.password ? {} : { password }),
      });
    },
  );

  app.delete<{ Params: { name: string } }>('/api/v1/users/:name', ADMINS, async (req, reply) => {
    if (req.params.name === req.principal?.name)
      throw new HttpError(409, 'AUTH_INVALID', 'you cannot delete yourself');
    await asClientError(() => store.deleteUser(req.params.name));
    ctx.authn.forget();
    return reply.code(204).send();
  });

  /** Sets what a user (or "anonymous") may do on a pattern; an empty list removes the grant. */
  app.put<{ Params: { name: string }; Body: { pattern: string; actions: Action[] } }>(
    '/api/v1/users/:name/grants',
    { ...ADMINS, schema: { body: scope } },
    async (req) => {
      await asClientError(() => store.grant(req.params.name, req.body.pattern, req.body.actions));
      return { subject: req.params.name, pattern: req.body.pattern, actions: req.body.actions };
    },
  );

  app.get<{ Params: { name: string } }>('/api/v1/users/:name/tokens', self, async (req) => ({
    tokens: await store.listTokens(req.params.name),
  }));

  app.post<{
    Params: { name: string };
    Body: { name: string; scopes?: Scope[]; admin?: boolean; expiresDays?: number };
  }>(
    '/api/v1/users/:name/tokens',
    {
      ...self,
      schema: {
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 64 },
            scopes: { type: 'array', items: scope },
            admin: { type: 'boolean' },
            expiresDays: { type: 'number', exclusiveMinimum: 0 },
          },
        },
      },
    },
    async (req, reply) => {
      const b = req.body;
      if (b.admin && b.scopes)
        throw new HttpError(400, 'AUTH_INVALID', 'admin and scopes exclude each other');
      if (b.admin && req.principal && !isAdmin(req.principal))
        throw new HttpError(403, 'FORBIDDEN', 'only an admin may make an admin token');
      if (b.scopes) await requireWithinGrants(store, req.params.name, b.scopes);
      const expires = b.expiresDays ? new Date(Date.now() + b.expiresDays * 86_400_000) : null;
      const t = await asClientError(() =>
        store.createToken(req.params.name, b.name, b.admin ? 'admin' : (b.scopes ?? null), expires),
      );
      return reply.code(201).send({ id: t.id, token: t.token, expiresAt: expires?.toISOString() ?? null });
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/api/v1/tokens/:id',
    { config: { access: tokenOwner } },
    async (req, reply) => {
      await asClientError(() => store.revokeToken(req.params.id));
      ctx.authn.forget();
      return reply.code(204).send();
    },
  );
};
