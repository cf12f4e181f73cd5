// The registry's HTTP surface under /v2/. Repository names contain '/', so one wildcard route
// takes every /v2/ path and dispatches on the parsed path. Bodies are never parsed by the
// framework here: blob data streams straight from the socket, manifests are read with a limit.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { getBlob, headBlob, deleteBlob } from './blobs.js';
import type { Registry } from './context.js';
import { OciError } from './errors.js';
import { catalog, listTags, referrers } from './listing.js';
import { deleteManifest, getManifest, putManifest } from './manifests.js';
import { registryRouteOf } from './route-of.js';
import type { Access } from '../http/access.js';
import { cancelUpload, completeUpload, patchUpload, startUpload, uploadStatus } from './uploads.js';

const METHODS = ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE'] as const;
const DRAIN_LIMIT = 64 * 1024 * 1024;

function unsupported(req: FastifyRequest): never {
  req.raw.resume();
  throw new OciError('UNSUPPORTED', `${req.method} is not supported on ${req.url.split('?')[0]}`);
}

async function dispatch(reg: Registry, req: FastifyRequest, reply: FastifyReply) {
  const route = registryRouteOf(req);
  if (!route) {
    req.raw.resume();
    throw new OciError('UNSUPPORTED', `no registry endpoint at ${req.url.split('?')[0]}`, undefined, 404);
  }
  const m = req.method;
  switch (route.kind) {
    case 'catalog':
      if (m === 'GET') return catalog(reg, req, reply);
      break;
    case 'tags':
      if (m === 'GET') return listTags(reg, route.name, req, reply);
      break;
    case 'referrers':
      if (m === 'GET') return referrers(reg, route.name, route.digest, req, reply);
      break;
    case 'blob':
      if (m === 'GET') return getBlob(reg, route.name, route.digest, req, reply);
      if (m === 'HEAD') return headBlob(reg, route.name, route.digest, reply);
      if (m === 'DELETE') return deleteBlob(reg, route.name, route.digest, reply);
      break;
    case 'uploads':
      if (m === 'POST') return startUpload(reg, route.name, req, reply);
      break;
    case 'upload':
      if (m === 'PATCH') return patchUpload(reg, route.name, route.id, req, reply);
      if (m === 'PUT') return completeUpload(reg, route.name, route.id, req, reply);
      if (m === 'GET') return uploadStatus(reg, route.name, route.id, reply);
      if (m === 'DELETE') return cancelUpload(reg, route.name, route.id, reply);
      break;
    case 'manifest':
      if (m === 'GET' || m === 'HEAD')
        return getManifest(reg, route.name, route.reference, m === 'HEAD', req, reply);
      if (m === 'PUT') return putManifest(reg, route.name, route.reference, req, reply);
      if (m === 'DELETE') return deleteManifest(reg, route.name, route.reference, req, reply);
      break;
  }
  return unsupported(req);
}

export const registryApi: FastifyPluginAsync<{ registry: Registry; access: Access }> = async (
  app,
  { registry, access },
) => {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));
  // A request answered before its body was read (an error, a refused chunk): drain what is left
  // so the connection stays usable; a large or unannounced remainder closes the connection instead.
  app.addHook('onSend', (req, reply, payload, done) => {
    if (!req.raw.complete) {
      req.raw.resume();
      const announced = Number(req.headers['content-length']);
      if (!(announced <= DRAIN_LIMIT)) reply.header('connection', 'close');
    }
    done(null, payload);
  });
  app.route({
    method: [...METHODS],
    url: '/v2/*',
    config: { access },
    handler: (req, reply) => dispatch(registry, req, reply),
  });
};
