// Records every mutation in the audit trail after it is answered (never slowing the request):
// manifest pushes and deletes, blob deletes, builds and cancels, service runs, collection,
// cache pruning, webhook changes, and failed sign-ins. Upload sessions are not recorded one by
// one: the manifest push that completes an image is.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AuditTrail } from '../ledger/audit.js';
import { parseRegistryPath } from '../registry/names.js';
import type { StateStore } from '../state/store.js';

function classify(req: FastifyRequest, status: number): { action: string; target: string } | undefined {
  const path = req.url.split('?')[0] as string;
  const m = req.method;
  if (path.startsWith('/v2/')) {
    const r = parseRegistryPath(path);
    if (r?.kind === 'manifest' && m === 'PUT') return { action: 'push', target: `${r.name}:${r.reference}` };
    if (r?.kind === 'manifest' && m === 'DELETE')
      return { action: 'delete', target: `${r.name}:${r.reference}` };
    if (r?.kind === 'blob' && m === 'DELETE')
      return { action: 'delete-blob', target: `${r.name}@${r.digest}` };
    return undefined;
  }
  if (path === '/auth/token')
    return status === 401 || status === 429 ? { action: 'sign-in-failed', target: 'registry' } : undefined;
  if (path === '/api/v1/session' && m === 'POST') {
    return { action: status < 300 ? 'sign-in' : 'sign-in-failed', target: 'web' };
  }
  if (path === '/api/v1/session' && m === 'DELETE') return { action: 'sign-out', target: 'web' };
  let u = /^\/api\/v1\/users\/([^/]+)\/grants$/.exec(path);
  if (u && m === 'PUT') return { action: 'grant', target: u[1] as string };
  if (path === '/api/v1/system/log-level' && m === 'PUT')
    return { action: 'log-level', target: String((req.body as { level?: string })?.level ?? '') };
  u = /^\/api\/v1\/webhooks\/([^/]+)$/.exec(path);
  if (u && m === 'PATCH') return { action: 'webhook-update', target: u[1] as string };
  if (m !== 'POST' && m !== 'DELETE') return undefined;
  if (path === '/api/v1/webhooks' && m === 'POST')
    return { action: 'webhook-add', target: String((req.body as { url?: string })?.url ?? '') };
  if (u && m === 'DELETE') return { action: 'webhook-delete', target: u[1] as string };
  u = /^\/api\/v1\/webhooks\/([^/]+)\/(ping|deliveries\/[^/]+\/redeliver)$/.exec(path);
  if (u && m === 'POST')
    return { action: u[2] === 'ping' ? 'webhook-ping' : 'webhook-redeliver', target: u[1] as string };
  if (path === '/api/v1/users' && m === 'POST')
    return { action: 'user-add', target: String((req.body as { name?: string })?.name ?? '') };
  u = /^\/api\/v1\/users\/([^/]+)$/.exec(path);
  if (u && m === 'DELETE') return { action: 'user-delete', target: u[1] as string };
  u = /^\/api\/v1\/users\/([^/]+)\/tokens$/.exec(path);
  if (u && m === 'POST') return { action: 'token-create', target: u[1] as string };
  u = /^\/api\/v1\/tokens\/([^/]+)$/.exec(path);
  if (u && m === 'DELETE') return { action: 'token-revoke', target: u[1] as string };
  const body = (req.body ?? {}) as Record<string, unknown>;
  const query = (req.query ?? {}) as Record<string, unknown>;
  if (path === '/api/v1/builds')
    return { action: 'build', target: String(body.repository ?? query.repository ?? '') };
  if (path === '/build-image') return { action: 'build', target: String(body.imageName ?? '') };
  let x = /^\/api\/v1\/builds\/([^/]+)\/(cancel|repeat)$/.exec(path);
  if (x) return { action: `build-${x[2]}`, target: x[1] as string };
  x = /^\/api\/v1\/services\/([^/]+)\/(plan|enable|disable)$/.exec(path);
  if (x) return { action: `service-${x[2]}`, target: x[1] as string };
  if (path === '/enable-service' || path === '/enable-service-stream') {
    return { action: 'service-enable', target: String(body.service ?? '') };
  }
  if (path === '/api/v1/registry/gc') return { action: 'gc', target: body.dryRun ? 'dry run' : 'registry' };
  if (path === '/api/v1/builder/prune') return { action: 'builder-prune', target: 'buildkit' };
  return undefined;
}

export function auditHook(
  app: FastifyInstance,
  state: StateStore,
  authEnabled: () => Promise<boolean>,
): void {
  const trail = new AuditTrail(state);
  app.addHook('onResponse', async (req, reply) => {
    const what = classify(req, reply.statusCode);
    if (!what) return;
    const actor = req.principal?.name ?? ((await authEnabled()) ? 'anonymous' : 'local (authentication off)');
    await trail
      .record({ ...what, actor, address: req.ip, status: reply.statusCode })
      .catch((err: Error) => req.log.error({ err }, 'could not record an audit entry'));
  });
}
