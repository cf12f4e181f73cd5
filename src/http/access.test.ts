// The access declarations on a real Fastify instance: a route without one stops start-up, and the
// check runs on the route the router matched, whatever spelling of the path reached it.
import Fastify, { type FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { HttpError } from './http-error.js';
import { enforceAccess, requireAccessDeclarations, type Gate } from './access.js';

/** A gate where the `x-user` header names the caller and `root` is the admin. */
const gate: Gate = {
  enabled: async () => true,
  async signIn(req) {
    const user = req.headers['x-user'];
    if (typeof user !== 'string') throw new HttpError(401, 'UNAUTHORIZED', 'sign in');
    req.principal = { kind: 'user', name: user, admin: user === 'root' };
  },
  requireAdmin(req: FastifyRequest) {
    if (!req.principal?.admin) throw new HttpError(403, 'FORBIDDEN', 'admins only');
  },
};

function app() {
  const a = Fastify();
  a.setErrorHandler((err: HttpError, _req, reply) =>
    reply.code(err.statusCode ?? 500).send({ code: err.code }),
  );
  requireAccessDeclarations(a);
  enforceAccess(a, gate);
  return a;
}

describe('access declarations', () => {
  it('a route registered without a declaration fails start-up, naming it', async () => {
    const a = app();
    a.get('/open', { config: { access: 'public' } }, async () => 'ok');
    expect(() => a.get('/forgotten', async () => 'oops')).toThrow(/GET \/forgotten declares no access/);
    const b = app();
    const loading = b.register(async (plugin) => {
      plugin.post('/api/feature', async () => 'oops');
    });
    await expect(loading).rejects.toThrow(/POST \/api\/feature declares no access/);
  });

  it('decides on the matched route: encoded paths are judged as the route they reach', async () => {
    const a = app();
    a.get('/api/users', { config: { access: 'admin' } }, async () => 'the users');
    await a.ready();
    for (const url of ['/api/users', '/%61pi/users', '/api/%75sers', '/API/users'.toLowerCase()]) {
      expect((await a.inject({ url })).statusCode, url).toBe(401);
      expect((await a.inject({ url, headers: { 'x-user': 'eve' } })).statusCode, url).toBe(403);
      expect((await a.inject({ url, headers: { 'x-user': 'root' } })).body, url).toBe('the users');
    }
  });

  it('a body rule sees the parsed body and refuses before the handler runs', async () => {
    const a = app();
    let ran = 0;
    a.post<{ Body: { repo: string } }>(
      '/build',
      {
        config: {
          access: {
            who: 'owners of the repository',
            when: 'body',
            signIn: true,
            async check(req) {
              const repo = (req.body as { repo: string }).repo;
              if (!repo.startsWith(`${req.principal?.name}/`))
                throw new HttpError(403, 'FORBIDDEN', 'not yours');
            },
          },
        },
      },
      async () => ++ran,
    );
    await a.ready();
    const post = (user: string, repo: string) =>
      a.inject({ method: 'POST', url: '/build', headers: { 'x-user': user }, payload: { repo } });
    expect((await post('alice', 'bob/app')).statusCode).toBe(403);
    expect(ran).toBe(0);
    expect((await post('alice', 'alice/app')).statusCode).toBe(200);
    expect(ran).toBe(1);
  });
});
