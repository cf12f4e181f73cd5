// Liveness and readiness. /healthz says the process serves HTTP; /readyz says it should get
// traffic: it turns 503 as soon as a graceful shutdown begins, so load balancers drain first, and
// while the state database or the blob store does not answer (each asked with a deadline, the
// answer kept for a second so a busy balancer does not multiply the checks).
import type { FastifyPluginAsync } from 'fastify';
import { ANYONE } from '../http/access.js';

export interface Readiness {
  ready: boolean;
  /** True once a graceful shutdown has begun. */
  draining: boolean;
  reason: string;
}

export interface Dependency {
  name: string;
  /** Resolves when the dependency answers; rejects with why not. */
  check: () => Promise<void>;
}

const CHECK_TIMEOUT_MS = 3000;
const CACHE_MS = 1000;

async function within(dep: Dependency): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([dep.check(), late]);
    return undefined;
  } catch (err) {
    return `${dep.name}: ${(err as Error).message}`;
  } finally {
    clearTimeout(timer);
  }
}

export const healthRoutes: FastifyPluginAsync<{ readiness: Readiness; dependencies?: Dependency[] }> = async (
  app,
  { readiness, dependencies = [] },
) => {
  let last: { at: number; problems: Promise<string[]> } | undefined;
  const problems = () => {
    if (!last || Date.now() - last.at > CACHE_MS) {
      last = {
        at: Date.now(),
        problems: Promise.all(dependencies.map(within)).then((r) => r.filter((p) => p !== undefined)),
      };
    }
    return last.problems;
  };

  app.get('/healthz', ANYONE, async () => ({ status: 'ok' }));
  app.get('/readyz', ANYONE, async (_req, reply) => {
    if (!readiness.ready) return reply.status(503).send({ status: 'not-ready', reason: readiness.reason });
    const failing = await problems();
    if (failing.length > 0)
      return reply.status(503).send({ status: 'not-ready', reason: failing.join('; ') });
    return { status: 'ready' };
  });
};
