// Tracks requests in flight, so a shutdown that runs into its deadline can say which requests
// held it up (method, path, age) instead of just cutting them.
import type { FastifyInstance } from 'fastify';

export interface InFlight {
  method: string;
  url: string;
  startedAt: number;
}

export function trackInFlight(app: FastifyInstance): () => InFlight[] {
  const open = new Set<InFlight>();
  app.addHook('onRequest', async (req, reply) => {
    const entry = { method: req.method, url: req.url.split('?')[0] as string, startedAt: Date.now() };
    open.add(entry);
    // 'close' fires for every response, hijacked ones and aborted ones included.
    reply.raw.once('close', () => open.delete(entry));
  });
  return () => [...open];
}
