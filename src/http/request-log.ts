// One log line per request, written when its answer has gone out: method, URL (secret query values
// redacted by the logger's `req` serializer), status and time taken. Fastify's own request logging
// writes two lines per request ("incoming request", then "request completed"); on the small
// requests a registry serves most, that second JSON line was a measurable share of the CPU.
// Replies the handler takes over (hijacked: blob downloads, event streams) write their own line.
import type { FastifyInstance } from 'fastify';

export function logRequests(app: FastifyInstance): void {
  app.addHook('onResponse', (req, reply, done) => {
    req.log.info({ req, res: reply, responseTime: reply.elapsedTime }, 'request completed');
    done();
  });
}
