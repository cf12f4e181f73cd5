// Tracks requests in flight, so a shutdown that runs into its deadline can say which requests
// held it up (method, path, age) instead of just cutting them.
import type { FastifyInstance, FastifyRequest } from 'fastify';

export interface InFlight {
  method: string;
  url: string;
  startedAt: number;
}

export function trackInFlight(app: FastifyInstance): () => InFlight[] {
  // The request itself is kept (its method and path read only when a shutdown asks): this hook
  // runs on every request, so it does as little as it can.
  const open = new Map<FastifyRequest, number>();
  app.addHook('onRequest', (req, reply, done) => {
    open.set(req, Date.now());
    // 'close' fires for every response, hijacked ones and aborted ones included.
    reply.raw.once('close', () => open.delete(req));
    done();
  });
  return () =>
    [...open].map(([req, startedAt]) => ({
      method: req.method,
      url: req.url.split('?')[0] as string,
      startedAt,
    }));
}
