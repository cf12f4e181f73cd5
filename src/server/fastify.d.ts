// Decorations this server adds to the Fastify instance.
import type { InFlight } from './in-flight.js';
import type { RouteRecord } from './openapi.js';

declare module 'fastify' {
  interface FastifyInstance {
    inFlight(): InFlight[];
    /** The Prometheus text of this server's metrics (what GET /metrics answers). */
    scrapeMetrics(): Promise<string>;
    /** Every route registered, with its method and access declaration (openapi.ts collects them). */
    routeTable: RouteRecord[];
  }
}
