// Liveness and readiness. /healthz says the process serves HTTP; /readyz says it should get
// traffic: it turns 503 as soon as a graceful shutdown begins, so load balancers drain first.
import type { FastifyPluginAsync } from 'fastify';

export interface Readiness {
  ready: boolean;
  /** True once a graceful shutdown has begun. */
  draining: boolean;
  reason: string;
}

export const healthRoutes: FastifyPluginAsync<{ readiness: Readiness }> = async (app, { readiness }) => {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    if (!readiness.ready) return reply.status(503).send({ status: 'not-ready', reason: readiness.reason });
    return { status: 'ready' };
  });
};
