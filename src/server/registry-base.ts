// The registry's API version check, GET /v2/ (OCI Distribution Spec "end-1"). Clients probe it
// before anything else; the header tells Docker-style clients this is a v2 registry.
import type { FastifyPluginAsync } from 'fastify';
import type { Access } from '../http/access.js';

export const API_VERSION_HEADER = 'docker-distribution-api-version';

const plugin: FastifyPluginAsync<{ access: Access }> = async (app, { access }) => {
  app.addHook('onSend', (req, reply, payload, done) => {
    if (req.url.startsWith('/v2')) reply.header(API_VERSION_HEADER, 'registry/2.0');
    done(null, payload);
  });
  app.get('/v2/', { config: { access } }, async (_req, reply) => reply.type('application/json').send({}));
  app.head('/v2/', { config: { access } }, async (_req, reply) =>
    reply.type('application/json').header('content-length', 2).send(),
  );
};

// Not encapsulated: the version header must also reach /v2/ answers from the root's
// not-found and error handlers.
export const registryRoutes = Object.assign(plugin, { [Symbol.for('skip-override')]: true });
