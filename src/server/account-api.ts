// A user's own account: PUT /api/v1/account/password changes the caller's password, given the
// current one (checked as a sign-in is: the same attempt limits). Every web session and registry
// token of the user ends with the old password (API tokens stay: they are revoked one by one);
// a caller who came with a web session gets a new one, so this browser stays signed in.
import type { FastifyPluginAsync, FastifySchema } from 'fastify';
import { TooManyAttempts } from '../auth/credentials.js';
import { cookie, SESSION_COOKIE, sessionCookie } from '../auth/sessions.js';
import type { Principal } from '../auth/store.js';
import type { AccessRule } from '../http/access.js';
import { HttpError } from './envelope.js';
import { withPassword } from './users-api.js';
import type { AuthContext } from './registry-auth.js';

/** Long enough for any passphrase; bounded so one request cannot make hashing expensive. */
const MAX_PASSWORD = 1024;

/** Signed in as a user with a password or the web session: an API token cannot change one. */
const ownPassword: AccessRule = {
  who: 'a signed-in user, with a password or the web session (not an API token)',
  when: 'request',
  signIn: true,
  async check(req) {
    const p = req.principal as Principal | undefined;
    if (p && !withPassword(p))
      throw new HttpError(403, 'FORBIDDEN', 'an API token cannot change a password: sign in with it');
  },
};

export const accountApi: FastifyPluginAsync<{ ctx: AuthContext }> = async (app, { ctx }) => {
  app.put<{ Body: { currentPassword: string; newPassword: string } }>(
    '/api/v1/account/password',
    {
      config: { access: ownPassword },
      schema: {
        summary: "Changes the caller's own password (the current one is asked for)",
        body: {
          type: 'object',
          required: ['currentPassword', 'newPassword'],
          additionalProperties: false,
          properties: {
            currentPassword: { type: 'string', minLength: 1, maxLength: MAX_PASSWORD },
            newPassword: { type: 'string', minLength: 8, maxLength: MAX_PASSWORD },
          },
        },
      } as FastifySchema,
    },
    async (req, reply) => {
      const p = req.principal;
      if (!p)
        throw new HttpError(
          409,
          'AUTH_INVALID',
          'authentication is off (no user exists): there is no password to change',
        );
      const { currentPassword, newPassword } = req.body;
      let checked: Principal | undefined;
      try {
        // An API token in the password field is not the password.
        checked = currentPassword.startsWith('oc_')
          ? undefined
          : await ctx.authn.basic(p.name, currentPassword, req.ip);
      } catch (err) {
        if (err instanceof TooManyAttempts) throw new HttpError(429, 'TOO_MANY_ATTEMPTS', err.message);
        throw err;
      }
      if (!checked || !withPassword(checked))
        throw new HttpError(403, 'AUTH_INVALID', 'the current password is not right');
      await ctx.store.setPassword(p.name, newPassword);
      ctx.authn.forget();
      // Every session ended with the old password; this browser gets a new one.
      if (!cookie(req.headers.cookie, SESSION_COOKIE)) return reply.code(204).send();
      const s = await ctx.sessions.create(p.name);
      reply.header('set-cookie', sessionCookie(s.id, s.expiresAt, req.protocol === 'https'));
      return { csrfToken: s.csrf, expiresAt: s.expiresAt.toISOString() };
    },
  );
};
