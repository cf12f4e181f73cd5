// Decorations this server adds to the Fastify instance.
import type { InFlight } from './in-flight.js';

declare module 'fastify' {
  interface FastifyInstance {
    inFlight(): InFlight[];
    /** The Prometheus text of this server's metrics (what GET /metrics answers). */
    scrapeMetrics(): Promise<string>;
  }
}
