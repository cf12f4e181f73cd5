// The registry route of a /v2/ request, parsed from its path once and kept with the request: the
// access rule judges it and the handler serves it, so both act on the same repository name
// whatever encoding the client sent.
import type { FastifyRequest } from 'fastify';
import { parseRegistryPath, type Route } from './names.js';

const parsed = new WeakMap<FastifyRequest, Route | undefined>();

/** The request's route, or undefined when the path is no registry endpoint; throws NAME_INVALID. */
export function registryRouteOf(req: FastifyRequest): Route | undefined {
  if (parsed.has(req)) return parsed.get(req);
  const route = parseRegistryPath(req.url.split('?')[0] as string);
  parsed.set(req, route);
  return route;
}
