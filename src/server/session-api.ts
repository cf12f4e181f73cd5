// Signing in to the UI: POST /api/v1/session with {username, password} sets the session cookie
// (HttpOnly, SameSite=Strict, Secure under TLS) and returns the CSRF token the UI sends back on
// every change; GET says who is signed in (and the token again, after a reload), with the grants
// that apply to them, so the UI offers only what they may do; DELETE signs out, ending the
// session on the server.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { grantsOf } from '../auth/access.js';
import { TooManyAttempts } from '../auth/credentials.js';
import { cookie, SESSION_COOKIE, sessionCookie } from '../auth/sessions.js';
import { HttpError } from './envelope.js';
import type { AuthContext } from './registry-auth.js';
import { ANYONE } from '../http/access.js';

function setCookie(req: FastifyRequest, reply: FastifyReply, value: string, expiresAt?: Date): void {
  reply.header('set-cookie', sessionCookie(value, expiresAt, req.protocol === 'https'));
}

export const sessionApi: FastifyPluginAsync<{ ctx: AuthContext }> = async (app, { ctx }) => {
  app.post<{ Body: { username: string; password: string } }>(
    '/api/v1/session',
    {
      ...ANYONE,
      schema: {
        body: {
          type: 'object',
          required: ['username', 'password'],
          additionalProperties: false,
          properties: {
            username: { type: 'string', minLength: 1 },
            password: { type: 'string', minLength: 1 },
          },
        },
      },
    },
    async (req, reply) => {
      let principal;
      try {
        principal = await ctx.authn.basic(req.body.username, req.body.password, req.ip);
      } catch (err) {
        if (err instanceof TooManyAttempts) throw new HttpError(429, 'TOO_MANY_ATTEMPTS', err.message);
        throw err;
      }
      // An API token is for scripts; the UI signs in with a password.
      if (!principal || principal.tokenScopes !== undefined || req.body.password.startsWith('oc_')) {
        throw new HttpError(401, 'UNAUTHORIZED', 'the user name or password is not valid');
      }
      const s = await ctx.sessions.create(principal.name);
      setCookie(req, reply, s.id, s.expiresAt);
      return {
        user: principal.name,
        admin: principal.admin,
        grants: await grantsOf(ctx.store, principal.name),
        csrfToken: s.csrf,
        expiresAt: s.expiresAt.toISOString(),
      };
    },
  );

  // Public: these read the session cookie themselves (signing in is how one gets one).
  app.get('/api/v1/session', ANYONE, async (req) => {
    const id = cookie(req.headers.cookie, SESSION_COOKIE);
    const s = id ? await ctx.sessions.find(id) : undefined;
    if (!s) {
      const on = await ctx.enabled();
      if (on) throw new HttpError(401, 'UNAUTHORIZED', 'not signed in');
      return { user: null, admin: true, grants: [], authentication: false };
    }
    return {
      user: s.principal.name,
      admin: s.principal.admin,
      grants: await grantsOf(ctx.store, s.principal.name),
      csrfToken: s.csrf,
      expiresAt: s.expiresAt,
      authentication: true,
    };
  });

  app.delete('/api/v1/session', ANYONE, async (req, reply) => {
    const id = cookie(req.headers.cookie, SESSION_COOKIE);
    if (id) await ctx.sessions.end(id);
    setCookie(req, reply, '');
    return reply.code(204).send();
  });
};
