// GET /metrics in the Prometheus text format, the HTTP accounting behind it, and the
// x-request-id header on every response. Installed on the root instance before any route, so
// its request hook sees every request (not-found ones and hijacked blob downloads included).
// With authentication on, scraping needs an admin or an API token; off, it is open like the rest.
import type { AccessRule } from '../http/access.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isAdmin } from '../auth/access.js';
import { parseAuthorization, TooManyAttempts } from '../auth/credentials.js';
import { cookie, SESSION_COOKIE } from '../auth/sessions.js';
import type { Principal } from '../auth/store.js';
import type { Config } from '../config/schema.js';
import { CONTENT_TYPE } from '../metrics/exposition.js';
import { Metrics } from '../metrics/metrics.js';
import { routeLabel } from '../metrics/routes.js';
import type { Registry } from '../registry/context.js';
import type { GcRunner } from '../registry/gc-runner.js';
import { HttpError } from './envelope.js';
import type { AuthContext } from './registry-auth.js';
import { quotaUsage } from '../policies/quotas.js';

export const REQUEST_ID_HEADER = 'x-request-id';

export interface MetricsApiOptions {
  config: Config;
  registry: Registry;
  gc: GcRunner;
  /** Authentication; a getter because it is set up after this plugin's hook is installed. */
  auth: () => AuthContext;
}

function chunkBytes(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string')
    return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  return 0;
}

/**
 * Counts body bytes on the raw streams of one exchange, without changing how they flow: what
 * the HTTP parser pushes into the request stream (decoded from chunked framing; a body the
 * server never read is not received), and what is written to the response (headers excluded;
 * nothing for HEAD, 204 and 304, whose bodies Node drops).
 */
function countBodies(req: IncomingMessage, res: ServerResponse): { in: number; out: number } {
  const n = { in: 0, out: 0 };
  const push = req.push;
  req.push = function (this: IncomingMessage, chunk: unknown, encoding?: BufferEncoding) {
    n.in += chunkBytes(chunk, encoding);
    return push.call(this, chunk, encoding);
  };
  const bodyless = () => req.method === 'HEAD' || res.statusCode === 204 || res.statusCode === 304;
  const write = res.write as (...args: unknown[]) => boolean;
  res.write = function (this: ServerResponse, ...args: unknown[]) {
    if (!bodyless()) n.out += chunkBytes(args[0], args[1]);
    return write.apply(this, args);
  } as ServerResponse['write'];
  const end = res.end as (...args: unknown[]) => ServerResponse;
  res.end = function (this: ServerResponse, ...args: unknown[]) {
    if (!bodyless() && typeof args[0] !== 'function') n.out += chunkBytes(args[0], args[1]);
    return end.apply(this, args);
  } as ServerResponse['end'];
  return n;
}

/** Admins (by password, session or admin token) and holders of any valid API token may scrape. */
async function checkScraper(ctx: AuthContext, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (!(await ctx.enabled())) return;
  const creds = parseAuthorization(req.headers.authorization);
  let principal: Principal | undefined;
  let token = false;
  try {
    if (creds?.kind === 'bearer') {
      principal = await ctx.store.checkToken(creds.token);
      token = true;
    } else if (creds?.kind === 'basic') {
      principal = await ctx.authn.basic(creds.user, creds.secret, req.ip);
      token = creds.secret.startsWith('oc_');
    } else {
      const session = cookie(req.headers.cookie, SESSION_COOKIE);
      if (session) principal = (await ctx.sessions.find(session))?.principal;
    }
  } catch (err) {
    if (err instanceof TooManyAttempts) throw new HttpError(429, 'TOO_MANY_ATTEMPTS', err.message);
    throw err;
  }
  if (!principal) {
    reply.header('www-authenticate', 'Basic realm="opencloud"');
    throw new HttpError(
      401,
      'UNAUTHORIZED',
      creds
        ? 'the user name, password or token is not valid'
        : 'metrics need an admin or an API token: Basic credentials or Authorization: Bearer oc_…',
    );
  }
  req.principal = principal;
  if (!token && !isAdmin(principal))
    throw new HttpError(
      403,
      'FORBIDDEN',
      `/metrics needs an admin or an API token; ${principal.name} is not an admin`,
    );
}

/** Installs the hooks and GET /metrics; returns the metrics, for the build service to report to. */
export function metricsApi(app: FastifyInstance, opts: MetricsApiOptions): Metrics {
  const metrics = new Metrics({
    state: opts.registry.state,
    sockets: { containerd: opts.config.containerd.socket, buildkit: opts.config.buildkit.socket },
    quotaUsage: () => quotaUsage(opts.registry.state),
  });
  opts.gc.onFinished = (outcome, seconds, bytes) => metrics.gcFinished(outcome, seconds, bytes);

  // Synchronous and first: it must wrap the request stream before the parser pushes any body.
  app.addHook('onRequest', (req, reply, done) => {
    const started = performance.now();
    const res = reply.raw;
    // Set on the raw response, so hijacked replies (blob downloads) carry it too.
    try {
      if (!res.hasHeader(REQUEST_ID_HEADER)) res.setHeader(REQUEST_ID_HEADER, req.id);
    } catch {
      // an id sent with characters a response header may not carry: answered without it
    }
    const bytes = countBodies(req.raw, res);
    // 'close' comes for every response: finished, hijacked, or cut when the client left.
    res.once('close', () => {
      const status = res.headersSent ? res.statusCode : 499;
      const route = routeLabel(req.routeOptions.url, req.url);
      metrics.httpRequest(
        route,
        req.method,
        status,
        (performance.now() - started) / 1000,
        bytes.in,
        bytes.out,
      );
    });
    done();
  });

  const scrapers: AccessRule = {
    who: 'admins, and holders of any valid API token',
    when: 'request',
    signIn: false,
    check: (req, reply) => checkScraper(opts.auth(), req, reply),
  };
  app.get('/metrics', { config: { access: scrapers } }, async (req, reply) => {
    const body = await metrics.scrape((err) => req.log.error({ err }, 'a metrics collector failed'));
    return reply.header('cache-control', 'no-store').type(CONTENT_TYPE).send(body);
  });
  app.addHook('onClose', async () => metrics.close());
  return metrics;
}
