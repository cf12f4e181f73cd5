// Records every mutation in the audit trail after it is answered (never slowing the request),
// refused attempts included (their status says so):
// manifest pushes and deletes, blob deletes, builds and cancels, service runs, collection,
// cache pruning, webhook changes, and failed sign-ins. Upload sessions are not recorded one by
// one: the manifest push that completes an image is.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuditTrail } from '../ledger/audit.js';
import { registryRouteOf } from '../registry/route-of.js';

interface Classified {
  action: string;
  target: string;
}
type Classifier = (req: FastifyRequest, status: number) => Classified | undefined;

const param = (req: FastifyRequest, name: string) =>
  String((req.params as Record<string, unknown>)[name] ?? '');
const field = (req: FastifyRequest, name: string) =>
  String(
    ((req.body ?? {}) as Record<string, unknown>)[name] ??
      ((req.query ?? {}) as Record<string, unknown>)[name] ??
      '',
  );
const fixed =
  (action: string, target: (req: FastifyRequest) => string): Classifier =>
  (req) => ({
    action,
    target: target(req),
  });

/** A webhook URL's origin only: its path or query often holds a secret (Slack-style URLs). */
function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '';
  }
}

/** The token endpoint records its refusals only: a token handed out changes nothing. */
const tokenRefused: Classifier = (_req, status) =>
  status === 401 || status === 429 ? { action: 'sign-in-failed', target: 'registry' } : undefined;

/**
 * What each route records, keyed by the route the router matched (never the URL text: an
 * encoded path reaches the same route and is recorded the same way, refusals included).
 */
const ROUTES: Record<string, Classifier> = {
  'POST /auth/token': tokenRefused,
  'GET /auth/token': tokenRefused,
  'POST /api/v1/session': (_req, status) => ({
    action: status < 300 ? 'sign-in' : 'sign-in-failed',
    target: 'web',
  }),
  'DELETE /api/v1/session': fixed('sign-out', () => 'web'),
  'PUT /api/v1/account/password': fixed('password-change', (r) => r.principal?.name ?? ''),
  'PUT /api/v1/users/:name/grants': fixed('grant', (r) => param(r, 'name')),
  'PUT /api/v1/system/log-level': fixed('log-level', (r) => field(r, 'level')),
  'POST /api/v1/webhooks': fixed('webhook-add', (r) => originOf(field(r, 'url'))),
  'PATCH /api/v1/webhooks/:id': fixed('webhook-update', (r) => param(r, 'id')),
  'DELETE /api/v1/webhooks/:id': fixed('webhook-delete', (r) => param(r, 'id')),
  'POST /api/v1/webhooks/:id/ping': fixed('webhook-ping', (r) => param(r, 'id')),
  'POST /api/v1/webhooks/:id/deliveries/:deliveryId/redeliver': fixed('webhook-redeliver', (r) =>
    param(r, 'id'),
  ),
  'POST /api/v1/users': fixed('user-add', (r) => field(r, 'name')),
  'DELETE /api/v1/users/:name': fixed('user-delete', (r) => param(r, 'name')),
  'POST /api/v1/users/:name/tokens': fixed('token-create', (r) => param(r, 'name')),
  'DELETE /api/v1/tokens/:id': fixed('token-revoke', (r) => param(r, 'id')),
  'POST /api/v1/builds': fixed('build', (r) => field(r, 'repository')),
  'POST /build-image': fixed('build', (r) => field(r, 'imageName')),
  'POST /api/v1/builds/:id/cancel': fixed('build-cancel', (r) => param(r, 'id')),
  'POST /api/v1/builds/:id/repeat': fixed('build-repeat', (r) => param(r, 'id')),
  'POST /api/v1/services/:name/plan': fixed('service-plan', (r) => param(r, 'name')),
  'POST /api/v1/services/:name/enable': fixed('service-enable', (r) => param(r, 'name')),
  'POST /api/v1/services/:name/disable': fixed('service-disable', (r) => param(r, 'name')),
  'POST /enable-service': fixed('service-enable', (r) => field(r, 'service')),
  'POST /enable-service-stream': fixed('service-enable', (r) => field(r, 'service')),
  'POST /api/v1/registry/gc': (req) => ({
    action: 'gc',
    target: ((req.body ?? {}) as { dryRun?: boolean }).dryRun ? 'dry run' : 'registry',
  }),
  'POST /api/v1/builder/prune': fixed('builder-prune', () => 'buildkit'),
  'PUT /api/v1/policies/immutable-tags': fixed('policy-immutable-tags', () => 'registry'),
  'PUT /api/v1/policies/retention': fixed('policy-retention', () => 'registry'),
  'PUT /api/v1/policies/quotas': fixed('policy-quotas', () => 'registry'),
};

/** Registry changes, from the path the access rule parsed (undefined for a path it refused to parse). */
function registryChange(req: FastifyRequest): Classified | undefined {
  const m = req.method;
  if (m !== 'PUT' && m !== 'DELETE') return undefined; // reads change nothing
  let r;
  try {
    r = registryRouteOf(req);
  } catch {
    return undefined;
  }
  if (r?.kind === 'manifest' && m === 'PUT') return { action: 'push', target: `${r.name}:${r.reference}` };
  if (r?.kind === 'manifest' && m === 'DELETE')
    return { action: 'delete', target: `${r.name}:${r.reference}` };
  if (r?.kind === 'blob' && m === 'DELETE') return { action: 'delete-blob', target: `${r.name}@${r.digest}` };
  return undefined;
}

function classify(req: FastifyRequest, status: number): Classified | undefined {
  const route = req.routeOptions.url;
  if (route === undefined) return undefined;
  if (route === '/v2/*') return registryChange(req);
  return ROUTES[`${req.method} ${route}`]?.(req, status);
}

export function auditHook(
  app: FastifyInstance,
  trail: AuditTrail,
  authEnabled: () => Promise<boolean>,
): void {
  const record = async (req: FastifyRequest, what: Classified, status: number) => {
    const actor = req.principal?.name ?? ((await authEnabled()) ? 'anonymous' : 'local (authentication off)');
    await trail
      .record({ ...what, actor, address: req.ip, status })
      .catch((err: Error) => req.log.error({ err }, 'could not record an audit entry'));
  };
  // Not async: most requests (reads) record nothing, and leave without a promise made for them.
  app.addHook('onResponse', (req, reply, done) => {
    const what = classify(req, reply.statusCode);
    if (!what) return done();
    void record(req, what, reply.statusCode).finally(() => done());
  });
}
