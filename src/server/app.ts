// Builds the one HTTP server: health probes, the registry under /v2/, the JSON API under
// /api/v1/. Construction has no side effects beyond the Fastify instance; listening and
// shutdown live in lifecycle.ts.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { apiRoutes } from './api.js';
import { installErrorHandlers } from './envelope.js';
import { healthRoutes, type Readiness } from './health.js';
import { trackInFlight } from './in-flight.js';
import { registryRoutes } from './registry-base.js';
import { servicesApi } from './services-api.js';
import { buildsApi } from './builds-api.js';
import { sql } from 'kysely';
import type { StateStore } from '../state/store.js';
import { WorkerPool, workerEndpoints } from '../build/workers.js';
import { imagesApi } from './images-api.js';
import { registrySummaryApi } from './registry-summary-api.js';
import { repositoriesApi } from './repositories-api.js';
import { tagsApi } from './tags-api.js';
import { apiGate, callerIsAdmin } from './api-auth.js';
import { enforceAccess, requireAccessDeclarations } from '../http/access.js';
import { lazySerializers, lazyValidators } from '../http/lazy-compilers.js';
import { logRequests } from '../http/request-log.js';
import { schemaError } from '../http/schema-errors.js';
import { auditHook } from './audit-hook.js';
import { accountApi } from './account-api.js';
import { policiesRoutes } from '../policies/routes.js';
import { sessionApi } from './session-api.js';
import { usersApi } from './users-api.js';
import { AuditTrail } from '../ledger/audit.js';
import { authContext, registryAccess, registryAuth, type AuthContext } from './registry-auth.js';
import { AuthStore, type Principal } from '../auth/store.js';
import type { Action } from '../auth/patterns.js';
import { sharedTokenKey, tokenKey } from '../auth/token-key.js';
import { Sessions } from '../auth/sessions.js';
import { BuildRecords } from '../build/records.js';
import { BuildService, type BuildCredential } from '../build/service.js';
import { join } from 'node:path';
import type { Registry } from '../registry/context.js';
import type { GcRunner } from '../registry/gc-runner.js';
import { registryApi } from '../registry/routes.js';
import { staticUi } from './static-ui.js';
import { metricsApi } from './metrics-api.js';
import { collectRoutes, openapi } from './openapi.js';
import { webhooks } from './webhooks.js';

export interface AppOptions {
  config: Config;
  logger: Logger;
  readiness: Readiness;
  registry: Registry;
  gc: GcRunner;
  /**
   * This host's ledger (services installed here and what they put on it): the state in the data
   * dir, even when the registry's state is in a shared PostgreSQL. Default: the registry's state.
   */
  hostState?: StateStore;
  /** Serve HTTPS with this certificate (chain) and key; lifecycle.ts swaps them on SIGHUP. */
  https?: { cert: Buffer; key: Buffer };
}

export async function buildApp({
  config,
  logger,
  readiness,
  registry,
  gc,
  hostState = registry.state,
  https,
}: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // HEAD routes are declared explicitly: the automatic ones would read whole bodies (blobs).
    exposeHeadRoutes: false,
    // Repository names contain '/', so registry paths are parsed by hand; keep URLs as sent.
    routerOptions: { ignoreTrailingSlash: false, maxParamLength: 1024 },
    requestIdHeader: 'x-request-id',
    // One line per request instead (http/request-log.ts).
    logController: new LogController({ disableRequestLogging: true }),
    // A property a schema does not know is refused (400), never silently dropped: a client's
    // mistake is told, and a field meant for something else cannot slip past a check.
    ajv: { customOptions: { removeAdditional: false } },
    schemaErrorFormatter: schemaError,
    schemaController: {
      compilersFactory: { buildValidator: lazyValidators(), buildSerializer: lazySerializers() },
    },
    return503OnClosing: true,
    // Behind a reverse proxy: protocol, host and client address from X-Forwarded-* (README).
    trustProxy: config.trustProxy,
    ...(https ? { https } : {}),
  });
  installErrorHandlers(app);
  logRequests(app);
  // Before any route: onRoute hooks only see routes registered after them.
  requireAccessDeclarations(app);
  const routes = collectRoutes(app);
  app.decorate('routeTable', routes);
  const metrics = metricsApi(app, { config, registry, gc, auth: () => auth });
  app.decorate('scrapeMetrics', () =>
    metrics.scrape((err) => app.log.error({ err }, 'a metrics collector failed')),
  );
  const audit = new AuditTrail(registry.state);
  // Before any route: Fastify fixes a route's hooks when the route is registered.
  const auth = authContext(
    new AuthStore(registry.state),
    new Sessions(registry.state),
    config.state.postgresUrl ? await sharedTokenKey(registry.state) : await tokenKey(config.dataDir),
    (l) =>
      void audit
        .record({
          actor: 'anonymous',
          address: l.address,
          action: 'sign-in-locked',
          target: l.user ?? '*',
          status: 429,
          detail: { scope: l.scope, failures: l.failures, until: l.until.toISOString() },
        })
        .catch((err: Error) => app.log.error({ err }, 'could not record a lockout in the audit trail')),
  );
  enforceAccess(app, apiGate(auth));
  await registryAuth(app, auth);
  const v2 = registryAccess(auth);
  auditHook(app, audit, () => auth.enabled());
  await app.register(sessionApi, { ctx: auth });
  await app.register(usersApi, { ctx: auth });
  await app.register(accountApi, { ctx: auth });
  app.decorate('inFlight', trackInFlight(app));
  // While draining, answer on a closing connection: a keep-alive socket would hold shutdown open.
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (readiness.draining) reply.header('connection', 'close');
    done(null, payload);
  });
  await app.register(healthRoutes, {
    readiness,
    dependencies: [
      { name: 'state database', check: async () => void (await sql`select 1`.execute(registry.state.db)) },
      ...(registry.blobs.check ? [{ name: 'blob store', check: () => registry.blobs.check!() }] : []),
    ],
  });
  await app.register(registryRoutes, { access: v2 });
  // Pushes, deletes, finished builds and service runs are announced here; webhooks deliver them.
  const events = await webhooks(app, config, registry.state, !!https);
  // On the registry itself: garbage collection (its retention deletes) announces through it too.
  registry.events = events;
  await app.register(registryApi, { registry, access: v2 });
  await app.register(apiRoutes, {
    prefix: '/api/v1',
    config,
    gc,
    audit,
    maySeeHost: callerIsAdmin(auth),
  });
  await app.register(servicesApi, {
    config,
    state: hostState,
    events,
    onRunOutcome: (action, outcome) => metrics.installerRunFinished(action, outcome),
  });
  await app.register(imagesApi, { config });
  await app.register(registrySummaryApi, { state: registry.state, auth });
  await app.register(tagsApi, { registry, auth });
  await app.register(policiesRoutes, { state: registry.state });
  await app.register(repositoriesApi, { state: registry.state, auth });
  const workers = new WorkerPool(workerEndpoints(config.buildkit), {
    intervalMs: config.buildkit.healthInterval * 1000,
  });
  void workers.start();
  app.addHook('onClose', async () => workers.stop());
  const builds = new BuildService(new BuildRecords(registry.state), {
    concurrency: config.build.concurrency,
    timeoutSec: config.build.timeout,
    maxQueuedPerUser: config.build.maxQueuedPerUser,
    contextLimits: { maxBytes: config.build.contextMaxBytes, maxFiles: config.build.contextMaxFiles },
    workers,
    workDir: join(config.dataDir, 'builds'),
    registryHost: () => registryHost(app),
    credential: (requestedBy, repository) =>
      buildCredential(auth, config.build.timeout, requestedBy, repository),
    onError: (err, buildId) => app.log.error({ err, buildId }, 'could not record a build'),
    onFinished: (outcome, waitS, durationS) => metrics.buildFinished(outcome, waitS, durationS),
    onRecorded: (b) =>
      events.emit({
        name: 'build.finished',
        subject: b.id,
        data: {
          buildId: b.id,
          state: b.state,
          repository: b.definition.repository,
          tags: b.definition.tags,
          images: b.images,
          digest: b.digest,
          error: b.error,
          actor: b.requestedBy?.name ?? null,
        },
      }),
  });
  const interrupted = await builds.recover();
  if (interrupted > 0)
    app.log.warn({ builds: interrupted }, 'marked builds interrupted by a restart as failed');
  app.addHook('preClose', () => builds.shutdown());
  await app.register(buildsApi, {
    config,
    builds,
    workers,
    store: auth.store,
    registryHost: () => registryHost(app),
  });
  await app.register(openapi, { routes });
  await app.register(staticUi); // last: the UI's catch-all route never shadows another
  return app;
}

/** host:port under which BuildKit on this machine reaches this registry (loopback for a wildcard). */
export function registryHost(app: FastifyInstance): string {
  const a = app.server.address();
  if (!a || typeof a === 'string') throw new Error('the server is not listening yet');
  const host = a.address === '0.0.0.0' || a.address === '::' ? '127.0.0.1' : a.address;
  return `${host.includes(':') ? `[${host}]` : host}:${a.port}`;
}

/**
 * With authentication on, a build pushes with a token of its requester's, good for the build's
 * timeout: push on its target, pull wherever the requester may pull (its base images). Revoked
 * when the build ends.
 */
async function buildCredential(
  auth: AuthContext,
  timeoutSec: number,
  requestedBy: Principal | undefined,
  repository: string,
): Promise<BuildCredential | undefined> {
  if (!requestedBy || requestedBy.kind !== 'user' || !(await auth.enabled())) return undefined;
  const expires = new Date(Date.now() + (timeoutSec + 300) * 1000);
  const scopes = [
    { pattern: repository, actions: ['pull', 'push'] as Action[] },
    { pattern: '**', actions: ['pull'] as Action[] },
  ];
  const { id, token } = await auth.store.createToken(
    requestedBy.name,
    `build ${repository}`,
    scopes,
    expires,
  );
  return { username: requestedBy.name, secret: token, revoke: () => auth.store.revokeToken(id) };
}
